package service_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

// replicated starts two replicas of each role whose waits never poll: an
// answer that depends on another replica's work comes only from being told
// of it.
func replicated(t *testing.T) *testsystem.System {
	t.Helper()
	sys := testsystem.Start(t, nil, testsystem.WithReplicas(2),
		testsystem.WithServiceOptions(messages.Zeros, service.WithWaitPoll(time.Hour)),
		testsystem.WithServiceOptions(messages.Ones, service.WithWaitPoll(time.Hour)))
	sys.WaitShared(t, 30*time.Second)
	return sys
}

func uploadTo(t *testing.T, url, name string, data []byte) testsystem.Response {
	t.Helper()
	body, contentType := testsystem.MultipartFile(t, name, data)
	req, err := http.NewRequest(http.MethodPost, url+"/data/upload?wait=15s", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return testsystem.Do(t, req)
}

func getFrom(t *testing.T, url, path string, headers ...string) testsystem.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return testsystem.Do(t, req)
}

// Any replica answers any request: uploads spread over every replica of
// both roles each get their 201 with the placement, whichever replica
// handles their messages; every replica of a keeper lists, describes and
// serves the file (with Range), and its status; a delete through one
// replica is seen by the other; and the replicas of a role share its work.
func TestEveryReplicaAnswersEveryRequest(t *testing.T) {
	sys := replicated(t)
	all := append(slices.Clone(sys.URLs[messages.Zeros]), sys.URLs[messages.Ones]...)
	r := rand.New(rand.NewPCG(13, 17))
	data := make([][]byte, 16)
	for i := range data {
		data[i] = randomFile(r, 1000+i*7000) // one chunk and many
	}
	var files []api.File
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			res := uploadTo(t, all[i%len(all)], fmt.Sprintf("r%d.bin", i), data[i])
			if res.Status != http.StatusCreated {
				t.Errorf("upload %d to %s: %d %s", i, all[i%len(all)], res.Status, res.Body)
				return
			}
			var f api.File
			res.JSON(t, &f)
			if f.SHA256 != sha(data[i]) || len(f.StoredIn) == 0 {
				t.Errorf("upload %d: %+v", i, f)
			}
			mu.Lock()
			files = append(files, f)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, f := range files {
		for _, role := range f.StoredIn {
			for _, url := range sys.URLs[role] {
				if res := getFrom(t, url, "/data/"+f.ID); res.Status != http.StatusOK {
					t.Errorf("%s on %s: %d", f.ID, url, res.Status)
				}
				if res := getFrom(t, url, "/data/"+f.ID+"/content", "Range", "bytes=10-19"); res.Status != http.StatusPartialContent || len(res.Body) != 10 {
					t.Errorf("range of %s on %s: %d, %d bytes", f.ID, url, res.Status, len(res.Body))
				}
				var st api.Upload
				if res := getFrom(t, url, "/data/uploads/"+f.ID); res.Status != http.StatusOK {
					t.Errorf("status of %s on %s: %d", f.ID, url, res.Status)
				} else if res.JSON(t, &st); st.State != api.StatePlaced {
					t.Errorf("status of %s on %s: %s", f.ID, url, st.State)
				}
			}
		}
	}
	for _, role := range messages.Services() {
		var totals []int64
		for _, url := range sys.URLs[role] {
			var l api.FileList
			getFrom(t, url, "/data").JSON(t, &l)
			totals = append(totals, l.TotalSize)
		}
		if totals[0] != totals[1] {
			t.Errorf("%s's replicas list different totals: %v", role, totals)
		}
	}

	// Deleted through one replica, gone on the other: the 204 waits for the
	// replica that handles the delete, which may be either.
	f := files[0]
	keeper := sys.URLs[f.StoredIn[0]]
	req, _ := http.NewRequest(http.MethodDelete, keeper[1]+"/data/"+f.ID+"?wait=15s", nil)
	if res := testsystem.Do(t, req); res.Status != http.StatusNoContent {
		t.Fatalf("delete through %s: %d %s", keeper[1], res.Status, res.Body)
	}
	if res := getFrom(t, keeper[0], "/data/"+f.ID); res.Status != http.StatusNotFound {
		t.Errorf("deleted through one replica, the other still has it: %d", res.Status)
	}

	// Both replicas of each role did some of the work, and say which
	// replica they are in readiness and in every series.
	for _, role := range messages.Services() {
		for i, url := range sys.URLs[role] {
			instance := sys.Replicas[role][i].Instance()
			var ready struct{ Instance string }
			if getFrom(t, url, "/readyz").JSON(t, &ready); ready.Instance != instance {
				t.Errorf("/readyz of replica %s says instance %q", instance, ready.Instance)
			}
			handled := 0.0
			for k, v := range scrapeURL(t, url) {
				if !strings.Contains(k, fmt.Sprintf("instance=%q", instance)) {
					t.Errorf("replica %s exports %s", instance, k)
				}
				if strings.HasPrefix(k, "baum_watermill_handler_execution_time_seconds_count{") && strings.Contains(k, `handler_name="store-chunk"`) {
					handled += v
				}
			}
			if handled == 0 {
				t.Errorf("replica %d of %s handled no chunk", i+1, role)
			}
		}
	}
}

// A multi-chunk upload whose chunk partition moves to the other replica in
// the middle (the replica staging it stops): the other stages the first
// chunks from the log and the upload is placed whole, neither lost nor
// doubled.
func TestAnUploadSurvivesItsPartitionMovingToAnotherReplica(t *testing.T) {
	sys := replicated(t)
	bus, _ := commandBus(t, sys)
	gate := &pausingBus{next: bus, after: 6, paused: make(chan struct{}), resume: make(chan struct{})}
	sender, err := messages.NewSender(gate, messages.SenderConfig{ChunkSize: 8192})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0x01, 0x00, 0x10}, 40_000) // mostly zero bits: zeros keeps it
	id := newUploadID()
	sent := make(chan error, 1)
	go func() {
		_, err := sender.Send(context.Background(), messages.File{UploadID: id, Name: "moved.bin"}, bytes.NewReader(data))
		sent <- err
	}()
	<-gate.paused
	// The first chunks handled and their offsets committed: the replica
	// that gets the partition starts at the next chunk (otherwise it may
	// get them again from Kafka and never need the log).
	sys.WaitSettled(t, 30*time.Second)
	// Which replica of zeros stages it: stop that one.
	var staging *service.Service
	testsystem.Eventually(t, 30*time.Second, func() string {
		for _, s := range sys.Replicas[messages.Zeros] {
			dir := filepath.Join(sys.DataDir, "zeros", "staging", s.Instance())
			if info, err := os.Stat(filepath.Join(dir, id)); err == nil && info.Size() > 0 {
				staging = s
				return ""
			}
		}
		return "no replica of zeros stages the upload yet"
	})
	sys.StopReplica(staging)
	close(gate.resume)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var other string
	for i, s := range sys.Replicas[messages.Zeros] {
		if s != staging {
			other = sys.URLs[messages.Zeros][i]
		}
	}
	var f api.File
	testsystem.Eventually(t, 60*time.Second, func() string {
		res := getFrom(t, other, "/data/"+id)
		if res.Status != http.StatusOK {
			return fmt.Sprintf("the file on the remaining replica: %d", res.Status)
		}
		res.JSON(t, &f)
		return ""
	})
	if f.Size != int64(len(data)) || f.SHA256 != sha(data) {
		t.Fatalf("stored %d bytes, SHA-256 %s; sent %d, %s", f.Size, f.SHA256, len(data), sha(data))
	}
	if res := getFrom(t, other, "/data/"+id+"/content"); !bytes.Equal(res.Body, data) {
		t.Fatalf("served %d bytes, want the %d sent", len(res.Body), len(data))
	}
	if logs := sys.Logs.String(); !strings.Contains(logs, "staged from the log what another replica staged") {
		var mine []string
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, id) && !strings.Contains(line, `"http request"`) {
				mine = append(mine, line)
			}
		}
		t.Errorf("the remaining replica did not stage the first chunks from the log; the upload's log lines:\n%s", strings.Join(mine, "\n"))
	}
}

// pausingBus sends the first after commands, then waits for resume.
type pausingBus struct {
	next   messages.CommandSender
	after  int
	n      int
	paused chan struct{}
	resume chan struct{}
	once   sync.Once
}

func (b *pausingBus) Send(ctx context.Context, cmd any) error {
	b.n++
	if b.n > b.after {
		b.once.Do(func() { close(b.paused) })
		<-b.resume
	}
	return b.next.Send(ctx, cmd)
}

func newUploadID() string { return uuid.Must(uuid.NewV7()).String() }
