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
	Broker   *broker.Broker
	Services map[messages.Service]*Service
	order    []*Service
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
	sys := &System{Broker: b, Services: map[messages.Service]*Service{}}
	defer func() {
		if err != nil {
			sys.close()
		}
	}()
	for _, role := range messages.Services() {
		dbURL := *base
		dbURL.Path = "/" + config.DatabasePrefix + "_" + string(role)
		overrides := map[string]string{
			"BAUM_HTTP_ADDR":       "127.0.0.1:" + strconv.Itoa(config.Ports[role]),
			"BAUM_DATABASE_URL":    dbURL.String(),
			"BAUM_CREATE_DATABASE": "true",
			"BAUM_KAFKA_BROKERS":   b.Addrs()[0],
			"BAUM_DATA_DIR":        filepath.Join(config.DataDir, string(role)),
			"BAUM_LOG_FORMAT":      config.LogFormat,
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
		log, err := logging.New(config.Log, logging.Config{Level: c.LogLevel, Format: c.LogFormat}, slog.String("service", string(role)))
		if err != nil {
			return nil, err
		}
		s, err := NewService(ctx, c, log, config.Options[role]...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		sys.Services[role] = s
		sys.order = append(sys.order, s)
	}
	return sys, nil
}

// Run serves until ctx ends or a service stops, then stops everything.
func (sys *System) Run(ctx context.Context) error {
	defer sys.Broker.Close()
	var wg sync.WaitGroup
	errs := make([]error, len(sys.order))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, s := range sys.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Run(runCtx)
			cancel() // one stops, all stop
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (sys *System) close() {
	for _, s := range sys.order {
		s.closeAdapters()
	}
	sys.Broker.Close()
}
