// Package s3test runs a real S3-compatible server for a test: the Versity
// S3 gateway (versitygw) on its posix backend, in a temporary directory, on
// a free port of the loopback. .ci/run installs it:
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/baum-store/baum/infra/s3"
)

// Install is the command that installs the gateway.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running gateway.
type Server struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	// Dir is the posix backend's root: each bucket is a directory in it.
	Dir    string
	client *minio.Client
	stop   func()
}

// Binary finds versitygw on PATH or in $(go env GOPATH)/bin, where go
// install puts it.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "versitygw")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("versitygw is neither on PATH nor in $(go env GOPATH)/bin; install it with: %s", Install)
}

// Start runs a gateway until the test ends. Without versitygw the test
// fails in CI (CI=true), where .ci/run installs it, and is skipped
// elsewhere, saying how to install it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	s := &Server{AccessKey: "baumtest", SecretKey: "baumtest-" + randomHex(8), Dir: t.TempDir()}
	var errs []string
	// The free port is found by closing a listener on it, so another
	// process may take it before the gateway does: try a few.
	for range 3 {
		if err = s.start(t, bin); err == nil {
			return s
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("versitygw did not start:\n%s", strings.Join(errs, "\n"))
	return nil
}

func (s *Server) start(t testing.TB, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Endpoint = "127.0.0.1:" + port
	logs := &strings.Builder{}
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", s.Endpoint, "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := s.waitReady(exited); err != nil {
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%w; its output:\n%s", err, logs.String())
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-exited
		})
	}
	t.Cleanup(s.stop)
	return nil
}

// waitReady waits until the gateway answers a signed request.
func (s *Server) waitReady(exited <-chan error) error {
	client, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), MaxRetries: 1})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = client.ListBuckets(ctx)
		cancel()
		if err == nil {
			s.client = client
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("versitygw exited: %v", werr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw at %s not ready within 20 s: %w", s.Endpoint, err)
		}
	}
}

// Stop kills the gateway (an outage): requests to it fail from now on.
func (s *Server) Stop() { s.stop() }

// Bucket makes a new, empty bucket and returns its name.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := "baum-" + randomHex(6)
	if err := s.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	return name
}

// Config is the adapter's configuration for bucket, under prefix.
func (s *Server) Config(bucket, prefix string) s3.Config {
	return s3.Config{Endpoint: s.Endpoint, Bucket: bucket, Prefix: prefix, AccessKey: s.AccessKey,
		SecretKey: s.SecretKey, Region: "us-east-1"}
}

// Env is the BAUM_STORAGE_* variables of a service on bucket (each role
// under its default prefix).
func (s *Server) Env(bucket string) map[string]string {
	return map[string]string{"BAUM_STORAGE": "s3", "BAUM_STORAGE_S3_ENDPOINT": s.Endpoint, "BAUM_STORAGE_S3_BUCKET": bucket,
		"BAUM_STORAGE_S3_ACCESS_KEY": s.AccessKey, "BAUM_STORAGE_S3_SECRET_KEY": s.SecretKey, "BAUM_STORAGE_S3_TLS": "false"}
}

// Client is a client of the gateway, for a test to look at the bucket
// itself.
func (s *Server) Client() *minio.Client { return s.client }

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
