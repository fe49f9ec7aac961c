package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/logging"
	"github.com/baum-store/baum/messages"
)

// devCmd runs everything a developer needs in one process: the in-process
// Kafka-protocol broker and both services, against a local PostgreSQL where
// it creates the databases baum_zeros and baum_ones if missing. BAUM_*
// variables still apply, except those the flags set.
func devCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "data", "directory for both services' files and the broker's log")
	pg := fs.String("postgres", "postgres://postgres@127.0.0.1:5432/?sslmode=disable", "PostgreSQL server URL (the database name is set per service)")
	kafkaPort := fs.Int("kafka-port", 9092, "port of the broker (0 picks a free one)")
	zerosPort := fs.Int("zeros-port", DefaultPort(messages.Zeros), "HTTP port of zeros")
	onesPort := fs.Int("ones-port", DefaultPort(messages.Ones), "HTTP port of ones")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := url.Parse(*pg)
	if err != nil || base.Scheme == "" {
		return usageError{fmt.Errorf("-postgres %q is not a postgres:// URL", *pg)}
	}
	level := getenv("BAUM_LOG_LEVEL")
	format := getenv("BAUM_LOG_FORMAT")
	if format == "" {
		format = "text"
	}
	blog, err := logging.New(stderr, logging.Config{Level: level, Format: format}, slog.String("service", "broker"))
	if err != nil {
		return err
	}
	b, err := broker.Start(broker.Config{Port: *kafkaPort, DataDir: filepath.Join(*dataDir, "kafka")}, blog)
	if err != nil {
		return err
	}
	defer b.Close()

	ports := map[messages.Service]int{messages.Zeros: *zerosPort, messages.Ones: *onesPort}
	services := make([]*Service, 0, 2)
	for _, role := range messages.Services() {
		dbURL := *base
		dbURL.Path = "/baum_" + string(role)
		overrides := map[string]string{
			"BAUM_HTTP_ADDR":       "127.0.0.1:" + strconv.Itoa(ports[role]),
			"BAUM_DATABASE_URL":    dbURL.String(),
			"BAUM_CREATE_DATABASE": "true",
			"BAUM_KAFKA_BROKERS":   b.Addrs()[0],
			"BAUM_DATA_DIR":        filepath.Join(*dataDir, string(role)),
			"BAUM_LOG_FORMAT":      format,
		}
		config, err := LoadConfig(func(k string) string {
			if v, ok := overrides[k]; ok {
				return v
			}
			return getenv(k)
		}, string(role))
		if err != nil {
			return fmt.Errorf("configuration of %s:\n%w", role, err)
		}
		log, err := logging.New(stderr, logging.Config{Level: config.LogLevel, Format: config.LogFormat}, slog.String("service", string(role)))
		if err != nil {
			return err
		}
		s, err := NewService(ctx, config, log)
		if err != nil {
			for _, started := range services {
				started.closeAdapters()
			}
			return fmt.Errorf("%s: %w", role, err)
		}
		services = append(services, s)
	}
	fmt.Fprintf(stderr, "\nBAUM is up:\n  zeros  http://%s\n  ones   http://%s\n  kafka  %s\nCtrl-C stops it.\n\n",
		services[0].Addr(), services[1].Addr(), b.Addrs()[0])

	var wg sync.WaitGroup
	errs := make([]error, len(services))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, s := range services {
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
