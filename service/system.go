package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/logging"
	"github.com/baum-store/baum/messages"
)

// SystemConfig configures a whole BAUM in one process: the in-process
// Kafka-protocol broker and both services. It is what `baum dev` runs, and
// what the integration tests start.
type SystemConfig struct {
	// DataDir holds both services' files and the broker's log. Default "data".
	DataDir string
	// PostgresURL is the PostgreSQL server; each service gets its own
	// database on it, created if missing. Default postgres://postgres@127.0.0.1:5432/?sslmode=disable.
	PostgresURL string
	// DatabasePrefix names the databases <prefix>_zeros and <prefix>_ones. Default "baum".
	DatabasePrefix string
	// KafkaPort is the broker's port; 0 picks a free one.
	KafkaPort int
	// KafkaListen, if set, opens the broker's listener (see broker.Config.Listen).
	KafkaListen func(network, address string) (net.Listener, error)
	// Ports are the services' HTTP ports; 0 picks a free one.
	Ports map[messages.Service]int
	// Getenv supplies the other BAUM_* variables (nil: none).
	Getenv func(string) string
	// Log receives every log line. Default os.Stderr.
	Log io.Writer
	// LogFormat is json or text. Default text.
	LogFormat string
	// Replicas is how many processes of each role run, sharing its
	// database and data directory (each its own BAUM_INSTANCE: <role>-1,
	// <role>-2, ...). Default 1, with the instance BAUM_INSTANCE names.
	Replicas int
	// Options are passed to each service's NewService (tests inject faults
	// with them).
	Options map[messages.Service][]Option
	// BrokerTLS and BrokerUsers secure the in-process broker (see
	// broker.Config); the services need the matching BAUM_KAFKA_* variables.
	BrokerTLS   *tls.Config
	BrokerUsers []broker.User
}

func (c *SystemConfig) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.PostgresURL == "" {
		c.PostgresURL = "postgres://postgres@127.0.0.1:5432/?sslmode=disable"
	}
	if c.DatabasePrefix == "" {
		c.DatabasePrefix = "baum"
	}
	if c.Getenv == nil {
		c.Getenv = func(string) string { return "" }
	}
	if c.Log == nil {
		c.Log = os.Stderr
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
}

// System is a running broker and both services.
type System struct {
	Broker *broker.Broker
	// Services are the first replica of each role; Replicas all of them.
	Services map[messages.Service]*Service
	Replicas map[messages.Service][]*Service
	order    []*Service

	mu      sync.Mutex
	stops   map[*Service]func()
	stopped map[*Service]chan struct{}
}

// StartSystem starts the broker and both services. Run serves them.
func StartSystem(ctx context.Context, config SystemConfig) (_ *System, err error) {
	config.setDefaults()
	base, err := url.Parse(config.PostgresURL)
	if err != nil || base.Scheme == "" {
		return nil, fmt.Errorf("PostgreSQL URL %q is not a postgres:// URL", config.PostgresURL)
	}
	level := config.Getenv("BAUM_LOG_LEVEL")
	blog, err := logging.New(config.Log, logging.Config{Level: level, Format: config.LogFormat}, slog.String("service", "broker"))
	if err != nil {
		return nil, err
	}
	b, err := broker.Start(broker.Config{Port: config.KafkaPort, DataDir: filepath.Join(config.DataDir, "kafka"),
		TLS: config.BrokerTLS, Users: config.BrokerUsers, Listen: config.KafkaListen}, blog)
	if err != nil {
		return nil, err
	}
	sys := &System{Broker: b, Services: map[messages.Service]*Service{}, Replicas: map[messages.Service][]*Service{}}
	defer func() {
		if err != nil {
			sys.close()
		}
	}()
	for _, role := range messages.Services() {
		for replica := range max(config.Replicas, 1) {
			s, err := startService(ctx, config, base, b, role, replica)
			if err != nil {
				return nil, err
			}
			if replica == 0 {
				sys.Services[role] = s
			}
			sys.Replicas[role] = append(sys.Replicas[role], s)
			sys.order = append(sys.order, s)
		}
	}
	return sys, nil
}

// Run serves until ctx ends or a service fails, then stops everything. A
// replica stopped on purpose (StopReplica) stops alone.
func (sys *System) Run(ctx context.Context) error {
	defer sys.Broker.Close()
	var wg sync.WaitGroup
	errs := make([]error, len(sys.order))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sys.mu.Lock()
	sys.stops = make(map[*Service]func(), len(sys.order))
	sys.stopped = make(map[*Service]chan struct{}, len(sys.order))
	for i, s := range sys.order {
		sctx, stop := context.WithCancel(runCtx)
		done := make(chan struct{})
		sys.stops[s], sys.stopped[s] = stop, done
		wg.Go(func() {
			defer close(done)
			errs[i] = s.Run(sctx)
			if sctx.Err() == nil || runCtx.Err() != nil || errs[i] != nil {
				cancel() // one fails, all stop
			}
		})
	}
	sys.mu.Unlock()
	wg.Wait()
	return errors.Join(errs...)
}

// StopReplica stops one service of a running system and waits until it has
// stopped (the others go on): a replica that leaves, as in a rolling
// update.
func (sys *System) StopReplica(s *Service) {
	sys.mu.Lock()
	stop, done := sys.stops[s], sys.stopped[s]
	sys.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func (sys *System) close() {
	for _, s := range sys.order {
		s.closeAdapters()
	}
	sys.Broker.Close()
}

// startService starts one replica of role on the system's broker.
func startService(ctx context.Context, config SystemConfig, base *url.URL, b *broker.Broker, role messages.Service, replica int) (*Service, error) {
	dbURL := *base
	dbURL.Path = "/" + config.DatabasePrefix + "_" + string(role)
	port := 0
	if replica == 0 {
		port = config.Ports[role]
	}
	overrides := map[string]string{
		"BAUM_HTTP_ADDR":       "127.0.0.1:" + strconv.Itoa(port),
		"BAUM_DATABASE_URL":    dbURL.String(),
		"BAUM_CREATE_DATABASE": "true",
		"BAUM_KAFKA_BROKERS":   b.Addrs()[0],
		"BAUM_DATA_DIR":        filepath.Join(config.DataDir, string(role)),
		"BAUM_LOG_FORMAT":      config.LogFormat,
	}
	if config.Replicas > 1 {
		overrides["BAUM_INSTANCE"] = fmt.Sprintf("%s-%d", role, replica+1)
	}
	c, err := LoadConfig(func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return config.Getenv(k)
	}, string(role))
	if err != nil {
		return nil, fmt.Errorf("configuration of %s:\n%w", role, err)
	}
	attrs := []slog.Attr{slog.String("service", string(role))}
	if config.Replicas > 1 {
		attrs = append(attrs, slog.String("instance", c.Instance))
	}
	log, err := logging.New(config.Log, logging.Config{Level: c.LogLevel, Format: c.LogFormat}, attrs...)
	if err != nil {
		return nil, err
	}
	s, err := NewService(ctx, c, log, config.Options[role]...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", role, err)
	}
	return s, nil
}
