// Package testsystem starts a whole BAUM (broker and both services) inside a
// test: its own PostgreSQL databases (dropped afterwards), its own temporary
// directories and free ports, so tests never collide with each other, with a
// developer's running instance or with the machine's own services.
package testsystem

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum"
	"github.com/baum-store/baum/messages"
)

// PostgresURL is the server the tests use: $BAUM_TEST_POSTGRES_URL or the
// local one.
func PostgresURL() string {
	if u := os.Getenv("BAUM_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/?sslmode=disable"
}

// System is a running BAUM for one test.
type System struct {
	*baum.System
	// URL is each service's base URL, e.g. http://127.0.0.1:41234.
	URL      map[messages.Service]string
	DataDir  string
	DBPrefix string
	Logs     *SyncBuffer

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Start starts a System with the given BAUM_* variables set, and stops it
// and drops its databases when the test ends.
func Start(t testing.TB, env map[string]string) *System {
	t.Helper()
	return StartWith(t, Options{Env: env})
}

// Options configure a System beyond its BAUM_* variables.
type Options struct {
	// Env are BAUM_* variables for both services.
	Env map[string]string
	// PostgresURL is the server the services use (e.g. a fault-injecting
	// proxy in front of the real one). Default PostgresURL(). The test's own
	// connections (Conn, dropping the databases) always go to PostgresURL().
	PostgresURL string
	// KafkaListen opens the broker's listener (see broker.Config.Listen).
	KafkaListen func(network, address string) (net.Listener, error)
	// Prepare runs on the data directory before anything starts; each
	// service keeps its files in <dir>/zeros and <dir>/ones.
	Prepare func(dataDir string)
}

// StartWith starts a System as Start does, with more options.
func StartWith(t testing.TB, opts Options) *System {
	t.Helper()
	if opts.PostgresURL == "" {
		opts.PostgresURL = PostgresURL()
	}
	env := opts.Env
	prefix := "baumtest_" + randomHex(6)
	logs := &SyncBuffer{}
	sys := &System{DataDir: t.TempDir(), DBPrefix: prefix, Logs: logs, done: make(chan error, 1)}
	if opts.Prepare != nil {
		opts.Prepare(sys.DataDir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sys.cancel = cancel
	s, err := baum.StartSystem(ctx, baum.SystemConfig{
		DataDir:        sys.DataDir,
		PostgresURL:    opts.PostgresURL,
		DatabasePrefix: prefix,
		KafkaListen:    opts.KafkaListen,
		Getenv:         func(k string) string { return env[k] },
		Log:            logs,
		LogFormat:      "json",
	})
	t.Cleanup(func() { DropDatabases(t, prefix) })
	if err != nil {
		cancel()
		t.Fatalf("start system: %v\n%s", err, logs.Tail(40))
	}
	sys.System = s
	sys.URL = map[messages.Service]string{}
	for role, svc := range s.Services {
		sys.URL[role] = "http://" + svc.Addr()
	}
	go func() { sys.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		sys.Stop(t)
		if t.Failed() {
			t.Logf("last log lines:\n%s", logs.Tail(60))
		}
	})
	sys.WaitReady(t)
	return sys
}

// WaitReady waits until both services answer /readyz with 200.
func (s *System) WaitReady(t testing.TB) {
	t.Helper()
	Eventually(t, 30*time.Second, func() string {
		for role := range s.URL {
			if res := s.Get(t, role, "/readyz"); res.Status != http.StatusOK {
				return fmt.Sprintf("%s not ready: %s", role, res.Body)
			}
		}
		return ""
	})
}

// Stop stops the system gracefully (once).
func (s *System) Stop(t testing.TB) {
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("system stopped with: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("system did not stop within 60 s")
		}
	})
}

// DropDatabases drops <prefix>_zeros and <prefix>_ones.
func DropDatabases(t testing.TB, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, strings.Replace(PostgresURL(), "/?", "/postgres?", 1))
	if err != nil {
		t.Logf("cannot drop test databases: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, role := range messages.Services() {
		name := pgx.Identifier{prefix + "_" + string(role)}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	}
}

// Conn connects to a service's database.
func (s *System) Conn(t testing.TB, role messages.Service) *pgx.Conn {
	t.Helper()
	url := strings.Replace(PostgresURL(), "/?", "/"+s.DBPrefix+"_"+string(role)+"?", 1)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect to %s database: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Response is an HTTP answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it is not JSON.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("status %d body is not the expected JSON (%v): %s", r.Status, err, r.Body)
	}
}

// Do sends a request and reads the answer.
func Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// Get fetches a path of a service.
func (s *System) Get(t testing.TB, role messages.Service, path string) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL[role]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Do(t, req)
}

// Upload posts data as the multipart field "file" named name to a service;
// query is appended to the URL (e.g. "?wait=0").
func (s *System) Upload(t testing.TB, role messages.Service, name string, data []byte, query string) Response {
	t.Helper()
	body, contentType := MultipartFile(t, name, data)
	req, err := http.NewRequest(http.MethodPost, s.URL[role]+"/data/upload"+query, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return Do(t, req)
}

// MultipartFile builds a multipart/form-data body with data in field "file".
func MultipartFile(t testing.TB, name string, data []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// Eventually polls cond until it returns "" or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines.
func (b *SyncBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
