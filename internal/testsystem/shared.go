package testsystem

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

// Shared is a whole BAUM started outside any one test: for Example
// functions, which get no *testing.T, started on first use and stopped by
// the test binary's TestMain. Its databases and directories are its own, as
// with Start.
type Shared struct {
	*service.System
	// URL is each service's base URL.
	URL map[messages.Service]string

	prefix string
	dir    string
	logs   *SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

// StartShared starts a Shared system and waits until both services are ready.
func StartShared() (*Shared, error) {
	dir, err := os.MkdirTemp("", "baum-shared-")
	if err != nil {
		return nil, err
	}
	s := &Shared{prefix: "baumtest_" + randomHex(6), dir: dir, logs: &SyncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	sys, err := service.StartSystem(ctx, service.SystemConfig{DataDir: dir, PostgresURL: PostgresURL(),
		DatabasePrefix: s.prefix, Log: s.logs, LogFormat: "json"})
	if err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("start system: %w\n%s", err, s.logs.Tail(40)), dropDatabases(s.prefix), os.RemoveAll(dir))
	}
	s.System = sys
	s.URL = map[messages.Service]string{}
	for role, svc := range sys.Services {
		s.URL[role] = "http://" + svc.Addr()
	}
	go func() { s.done <- sys.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for role, url := range s.URL {
		for {
			res, err := http.Get(url + "/readyz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return nil, errors.Join(fmt.Errorf("%s not ready within 60 s", role), s.Stop())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return s, nil
}

// Brokers are the Kafka bootstrap brokers of the system.
func (s *Shared) Brokers() []string { return s.Broker.Addrs() }

// Stop stops the system, drops its databases and removes its directory.
func (s *Shared) Stop() error {
	s.cancel()
	var err error
	select {
	case err = <-s.done:
	case <-time.After(60 * time.Second):
		err = errors.New("system did not stop within 60 s")
	}
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, s.logs.Tail(40))
	}
	return errors.Join(err, dropDatabases(s.prefix), os.RemoveAll(s.dir))
}
