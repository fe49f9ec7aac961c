package service_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/faultnet"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// sent is an upload an outage test made, and what it was told.
type sent struct {
	name   string
	data   []byte
	role   messages.Service
	status int
	id     string
}

func (s sent) keepers() []messages.Service {
	o := ones(s.data)
	return messages.Keepers(8*uint64(len(s.data))-o, o)
}

// randomFile returns n bytes leaning to zeros, to ones, or a tie.
func randomFile(r *rand.Rand, n int) []byte {
	data := make([]byte, n)
	switch r.IntN(3) {
	case 0:
		for i := range data {
			data[i] = byte(r.Uint32() & r.Uint32())
		}
	case 1:
		for i := range data {
			data[i] = byte(r.Uint32() | r.Uint32())
		}
	default:
		for i := 0; i < n/2; i++ {
			data[i] = byte(r.Uint32())
			data[n/2+i] = ^data[i]
		}
	}
	return data
}

func upload(t *testing.T, sys *testsystem.System, role messages.Service, name string, data []byte, query string) sent {
	t.Helper()
	res := sys.Upload(t, role, name, data, query)
	s := sent{name: name, data: data, role: role, status: res.Status}
	if res.Status == http.StatusCreated || res.Status == http.StatusAccepted {
		var v struct{ ID string }
		res.JSON(t, &v)
		s.id = v.ID
	}
	return s
}

// jsonError checks that a response is a JSON error with the given status and
// returns its body.
func jsonError(t *testing.T, res testsystem.Response, status int) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	var body map[string]any
	res.JSON(t, &body)
	if msg, _ := body["error"].(string); msg == "" {
		t.Fatalf("no error message in %s", res.Body)
	}
	return body
}

// waitNotReady waits until /readyz of every service answers 503 naming
// check as failing.
func waitNotReady(t *testing.T, sys *testsystem.System, check string) {
	t.Helper()
	testsystem.Eventually(t, 30*time.Second, func() string {
		for _, role := range messages.Services() {
			res := sys.Get(t, role, "/readyz")
			if res.Status != http.StatusServiceUnavailable {
				return fmt.Sprintf("%s /readyz: %d %s", role, res.Status, res.Body)
			}
			var body struct {
				Details map[string]string `json:"details"`
			}
			res.JSON(t, &body)
			if status := body.Details[check]; status == "" || status == "ok" {
				return fmt.Sprintf("%s /readyz does not name %s: %s", role, check, res.Body)
			}
		}
		return ""
	})
}

// checkAfterOutage waits until everything is handled, then checks that each
// accepted upload is placed where the rule says, byte for byte, that no
// refused upload left anything behind, and that staging is empty.
func checkAfterOutage(t *testing.T, sys *testsystem.System, accepted, refused []sent) {
	t.Helper()
	sys.WaitReady(t)
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 2*time.Minute)
	held := map[messages.Service]map[string]api.File{}
	for _, role := range messages.Services() {
		held[role] = listAll(t, sys, role) // also checks totals = list
	}
	for _, s := range accepted {
		var st api.Upload
		sys.Get(t, s.role, "/data/uploads/"+s.id).JSON(t, &st)
		if st.State != "placed" {
			t.Errorf("upload %s accepted before the outage is %s after it", s.name, st.State)
			continue
		}
		for _, role := range messages.Services() {
			f, ok := held[role][s.id]
			switch want := slices.Contains(s.keepers(), role); {
			case ok != want:
				t.Errorf("%s holds %s: %v, want %v", role, s.name, ok, want)
			case ok && (f.SHA256 != sha(s.data) || f.Size != int64(len(s.data))):
				t.Errorf("%s holds %s with size %d sha %s", role, s.name, f.Size, f.SHA256)
			}
		}
	}
	names := map[string]bool{}
	for _, s := range refused {
		names[s.name] = true
	}
	for _, role := range messages.Services() {
		for _, f := range held[role] {
			if names[f.Name] {
				t.Errorf("%s holds %s, which was refused", role, f.Name)
			}
		}
		var staged, receiving int
		conn := sys.Conn(t, role)
		conn.QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE state IN ('receiving', 'counting')").Scan(&receiving)
		if receiving != 0 {
			t.Errorf("%s has %d uploads still receiving or counting", role, receiving)
		}
		if entries, err := readDir(sys.StagingDir(role)); err != nil {
			t.Fatal(err)
		} else {
			staged = len(entries)
		}
		if staged != 0 {
			t.Errorf("%s still stages %d files", role, staged)
		}
	}
}

// conns connects to both services' databases directly (once per test:
// tests share the PostgreSQL server and its connection limit).
func conns(t *testing.T, sys *testsystem.System) map[messages.Service]*pgx.Conn {
	t.Helper()
	out := map[messages.Service]*pgx.Conn{}
	for _, role := range messages.Services() {
		out[role] = sys.Conn(t, role)
	}
	return out
}

// inFlight counts the accepted uploads not yet placed, read straight from
// the databases (the services' own way there may be cut).
func inFlight(t *testing.T, conns map[messages.Service]*pgx.Conn, accepted []sent) int {
	t.Helper()
	n := 0
	for _, s := range accepted {
		var state string
		conns[s.role].QueryRow(t.Context(), "SELECT state FROM uploads WHERE id = $1", s.id).Scan(&state)
		if state != "placed" {
			n++
		}
	}
	return n
}

// The database of both services goes away (every connection reset, or
// every packet held) and comes back. While it is away: /readyz names the
// database, uploads answer 503 with a JSON error and leave nothing behind.
// Uploads accepted just before it went away are placed once it is back, and
// new uploads work, all without a restart.
func TestDatabaseOutage(t *testing.T) {
	for _, mode := range []faultnet.State{faultnet.Cut, faultnet.Stalled} {
		t.Run(mode.String(), func(t *testing.T) {
			server, err := url.Parse(testsystem.PostgresURL())
			if err != nil {
				t.Fatal(err)
			}
			proxy, err := faultnet.NewProxy(server.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			viaProxy := *server
			viaProxy.Host = proxy.Addr()
			sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "4096"}, testsystem.WithPostgresURL(viaProxy.String()))
			r := rand.New(rand.NewPCG(1, uint64(mode)))

			var accepted, refused []sent
			for i := range 6 {
				s := upload(t, sys, messages.Services()[i%2], fmt.Sprintf("before-%d.bin", i), randomFile(r, 1000+r.IntN(30000)), "?wait=0")
				if s.status != http.StatusAccepted && s.status != http.StatusCreated {
					t.Fatalf("upload before the outage: %d", s.status)
				}
				accepted = append(accepted, s)
			}
			if mode == faultnet.Cut {
				proxy.Cut()
			} else {
				proxy.Stall()
			}
			t.Logf("%d of the %d accepted uploads were in flight when the database went", inFlight(t, conns(t, sys), accepted), len(accepted))
			waitNotReady(t, sys, "database")
			for i, role := range messages.Services() {
				name := fmt.Sprintf("during-%d.bin", i)
				res := sys.Upload(t, role, name, randomFile(r, 20000), "")
				if body := jsonError(t, res, http.StatusServiceUnavailable); !strings.Contains(body["error"].(string), "database") {
					t.Errorf("the 503 does not name the database: %s", res.Body)
				}
				refused = append(refused, sent{name: name})
			}

			proxy.Heal()
			checkAfterOutage(t, sys, accepted, refused)
			after := upload(t, sys, messages.Ones, "after.bin", randomFile(r, 5000), "")
			if after.status != http.StatusCreated {
				t.Fatalf("upload after the outage: %d", after.status)
			}
		})
	}
}

// gatedBody is a multipart upload body that sends the first part of the
// file, then waits for open before sending the rest: an upload that is
// halfway through when something fails.
func gatedBody(data []byte, first int, open <-chan struct{}) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("file", "halfway.bin")
		if err == nil {
			_, err = fw.Write(data[:first])
		}
		if err == nil {
			<-open
			_, err = fw.Write(data[first:])
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

// The broker's connections are cut (the broker's own listener resets every
// connection: clients reach the broker at the address its metadata
// advertises, so a proxy in front of the bootstrap address would be
// bypassed). While cut: /readyz names Kafka, new uploads answer 503 with a
// JSON error, and an upload that was halfway through answers 503 too and is
// aborted once Kafka is back, leaving nothing staged. Uploads accepted just
// before the cut are placed after it, and new uploads work without a
// restart.
func TestKafkaOutage(t *testing.T) {
	sw := faultnet.NewSwitch()
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "4096"}, testsystem.WithKafkaListen(sw.Listen))
	r := rand.New(rand.NewPCG(2, 2))
	db := conns(t, sys)

	var accepted, refused []sent
	for i := range 6 {
		s := upload(t, sys, messages.Services()[i%2], fmt.Sprintf("before-%d.bin", i), randomFile(r, 1000+r.IntN(30000)), "?wait=0")
		if s.status != http.StatusAccepted && s.status != http.StatusCreated {
			t.Fatalf("upload before the outage: %d", s.status)
		}
		accepted = append(accepted, s)
	}

	// An upload halfway through when Kafka goes.
	open := make(chan struct{})
	halfway := randomFile(r, 64<<10)
	body, contentType := gatedBody(halfway, 20<<10, open)
	req, err := http.NewRequest(http.MethodPost, sys.URL[messages.Zeros]+"/data/upload", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	halfwayDone := make(chan testsystem.Response, 1)
	go func() { halfwayDone <- testsystem.Do(t, req) }()
	// Its first chunks reached both services (the first chunk creates the
	// upload's record).
	testsystem.Eventually(t, 30*time.Second, func() string {
		for _, role := range messages.Services() {
			var n int
			db[role].QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE name = 'halfway.bin'").Scan(&n)
			if n == 0 {
				return fmt.Sprintf("the halfway upload's first chunks have not reached %s", role)
			}
		}
		return ""
	})

	sw.Cut()
	t.Logf("%d of the %d accepted uploads were in flight when Kafka went", inFlight(t, db, accepted), len(accepted))
	waitNotReady(t, sys, "kafka")
	close(open)
	res := <-halfwayDone
	jsonError(t, res, http.StatusServiceUnavailable)
	refused = append(refused, sent{name: "halfway.bin"})
	for i, role := range messages.Services() {
		name := fmt.Sprintf("during-%d.bin", i)
		res := sys.Upload(t, role, name, randomFile(r, 20000), "")
		if body := jsonError(t, res, http.StatusServiceUnavailable); !strings.Contains(strings.ToLower(body["error"].(string)), "kafka") {
			t.Errorf("the 503 does not name Kafka: %s", res.Body)
		}
		refused = append(refused, sent{name: name})
	}

	// Kafka stays away until the halfway upload's first attempt to abort
	// has failed: the abort must outlast the outage.
	testsystem.Eventually(t, 2*time.Minute, func() string {
		if !strings.Contains(sys.Logs.String(), "cannot abort upload") {
			return "the abort has not failed yet"
		}
		return ""
	})
	sw.Heal()
	// The abort is retried with back-off (up to 10 s apart).
	testsystem.Eventually(t, time.Minute, func() string {
		for _, role := range messages.Services() {
			var state, reason string
			db[role].QueryRow(t.Context(), "SELECT state, failure_reason FROM uploads WHERE name = 'halfway.bin'").Scan(&state, &reason)
			if state != "failed" || reason != messages.ReasonAborted {
				return fmt.Sprintf("%s: the halfway upload is %q (%q), want failed as aborted", role, state, reason)
			}
		}
		return ""
	})
	checkAfterOutage(t, sys, accepted, refused)
	after := upload(t, sys, messages.Ones, "after.bin", randomFile(r, 5000), "")
	if after.status != http.StatusCreated {
		t.Fatalf("upload after the outage: %d", after.status)
	}
}

// readDir lists a directory's entries, leaving out hidden ones.
func readDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
