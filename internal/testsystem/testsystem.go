// Package testsystem starts a whole BAUM (broker and both services) inside a
// test: its own PostgreSQL databases (dropped afterwards), its own temporary
// directories and free ports, so tests never collide with each other, with a
// developer's running instance or with the machine's own services.
package testsystem

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
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
	*service.System
	// URL is each service's base URL, e.g. http://127.0.0.1:41234 (its
	// first replica's); URLs every replica's.
	URL      map[messages.Service]string
	URLs     map[messages.Service][]string
	DataDir  string
	DBPrefix string
	Logs     *SyncBuffer
	// Kafka is how the services connect to the broker (TLS and SASL
	// included); tests' own clients use it too.
	Kafka kafka.Config

	config service.SystemConfig
	cancel context.CancelFunc
	done   chan error
	once   *sync.Once
}

// Option changes how Start starts a System.
type Option func(*startConfig)

type startConfig struct {
	service.SystemConfig
	prepare []func(dataDir string)
}

// WithServiceOptions passes options to one service's baum.NewService.
func WithServiceOptions(role messages.Service, opts ...service.Option) Option {
	return func(c *startConfig) {
		if c.Options == nil {
			c.Options = map[messages.Service][]service.Option{}
		}
		c.Options[role] = append(c.Options[role], opts...)
	}
}

// WithBroker secures the broker: TLS with this configuration (nil: none)
// and SASL with these users (none: no SASL). The services need the
// matching BAUM_KAFKA_* variables.
func WithBroker(tlsConfig *tls.Config, users ...broker.User) Option {
	return func(c *startConfig) { c.BrokerTLS, c.BrokerUsers = tlsConfig, users }
}

// WithPostgresURL has the services connect to PostgreSQL with this server
// URL (its query parameters, such as sslmode, included) instead of
// PostgresURL(). It must name the same server.
func WithPostgresURL(url string) Option {
	return func(c *startConfig) { c.PostgresURL = url }
}

// WithKafkaListen opens the broker's listener with listen (e.g. a
// fault-injecting one; see broker.Config.Listen).
func WithKafkaListen(listen func(network, address string) (net.Listener, error)) Option {
	return func(c *startConfig) { c.KafkaListen = listen }
}

// WithReplicas runs n processes of each role (see service.SystemConfig);
// URLs lists each one's base URL.
func WithReplicas(n int) Option {
	return func(c *startConfig) { c.Replicas = n }
}

// WithPrepare runs prepare on the data directory before anything starts;
// each service keeps its files in <dir>/zeros and <dir>/ones.
func WithPrepare(prepare func(dataDir string)) Option {
	return func(c *startConfig) { c.prepare = append(c.prepare, prepare) }
}

// Start starts a System with the given BAUM_* variables set, and stops it
// and drops its databases when the test ends.
func Start(t testing.TB, env map[string]string, opts ...Option) *System {
	t.Helper()
	sys, err := TryStart(t, env, opts...)
	if err != nil {
		t.Fatalf("start system: %v\n%s", err, sys.Logs.Tail(40))
	}
	sys.WaitReady(t)
	return sys
}

// TryStart is Start for a system that may fail to start: it returns the
// error (and a System whose Logs tell more) instead of failing the test. A
// system that starts is not waited for.
func TryStart(t testing.TB, env map[string]string, opts ...Option) (*System, error) {
	t.Helper()
	prefix := "baumtest_" + randomHex(6)
	sys := &System{DataDir: t.TempDir(), DBPrefix: prefix, Logs: &SyncBuffer{}}
	c := startConfig{SystemConfig: service.SystemConfig{
		DataDir:        sys.DataDir,
		PostgresURL:    PostgresURL(),
		DatabasePrefix: prefix,
		Getenv:         func(k string) string { return env[k] },
		Log:            sys.Logs,
		LogFormat:      "json",
	}}
	for _, opt := range opts {
		opt(&c)
	}
	sys.config = c.SystemConfig
	for _, prepare := range c.prepare {
		prepare(sys.DataDir)
	}
	t.Cleanup(func() { DropDatabases(t, prefix) })
	t.Cleanup(func() {
		sys.Stop(t)
		if t.Failed() {
			t.Logf("last log lines:\n%s", sys.Logs.Tail(60))
		}
	})
	return sys, sys.start()
}

func (s *System) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	running, err := service.StartSystem(ctx, s.config)
	if err != nil {
		cancel()
		return err
	}
	s.System, s.cancel, s.done, s.once = running, cancel, make(chan error, 1), &sync.Once{}
	s.Kafka = running.Services[messages.Zeros].KafkaConfig()
	s.Kafka.ClientID = "baum-test"
	s.Kafka.InstanceID = "" // a test's own consumers are dynamic members
	s.URL, s.URLs = map[messages.Service]string{}, map[messages.Service][]string{}
	for role, svc := range running.Services {
		s.URL[role] = "http://" + svc.Addr()
	}
	for role, replicas := range running.Replicas {
		for _, svc := range replicas {
			s.URLs[role] = append(s.URLs[role], "http://"+svc.Addr())
		}
	}
	go func() { s.done <- running.Run(ctx) }()
	return nil
}

// Restart stops the system gracefully and starts it again on the same
// databases, data directories and broker log (new ports).
func (s *System) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	if err := s.start(); err != nil {
		t.Fatalf("restart system: %v\n%s", err, s.Logs.Tail(40))
	}
	s.WaitReady(t)
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

// Stop stops the system gracefully (once per start).
func (s *System) Stop(t testing.TB) {
	if s.once == nil {
		return
	}
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
	if err := dropDatabases(prefix); err != nil {
		t.Logf("cannot drop test databases: %v", err)
	}
}

func dropDatabases(prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, strings.Replace(PostgresURL(), "/?", "/postgres?", 1))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var errs []error
	for _, role := range messages.Services() {
		name := pgx.Identifier{prefix + "_" + string(role)}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// StagingDir is where role's service stages files: its data directory's
// staging/<instance>.
func (s *System) StagingDir(role messages.Service) string {
	return filepath.Join(s.DataDir, string(role), "staging", s.Services[role].Instance())
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
