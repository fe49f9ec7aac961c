// Command baum runs BAUM, a file store of two services that talk only through
// Kafka: zeros keeps files with more zero bits, ones files with more one bits,
// both keep ties.
//
//	baum dev                       both services + a Kafka-protocol broker, for local use
//	baum serve --role zeros|ones   one service, configured by BAUM_* variables
//	baum broker                    the in-process Kafka-protocol broker alone
//	baum env                       every BAUM_* variable with its default
//	baum topics                    create BAUM's topics on a Kafka cluster
//	baum health [URL]              exit 0 if a service is ready (container health check)
//	baum send FILE|DIR|-...        send files straight to Kafka, wait for their placement
//	baum ls                        list the files both services hold
//	baum get ID                    download a file (or its metadata)
//	baum rm ID                     delete a file wherever it is held
//	baum help [CMD], baum --version
//
// Exit codes: 0 success, 1 failure, 2 usage, 3 not found, 4 upload failed,
// 5 not settled in time (see exitCode).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/logging"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

const usage = `baum — a file store that sorts files by their bits

Usage:
  baum dev    [flags]   run both services and a Kafka-protocol broker against local PostgreSQL
  baum serve  [flags]   run one service (zeros or ones), configured by BAUM_* variables
  baum broker [flags]   run the in-process Kafka-protocol broker alone
  baum env              list every BAUM_* variable with its default
  baum topics [flags]   create BAUM's topics on a Kafka cluster (or update their settings)
  baum health [URL]     exit 0 if the service answers /readyz with 200 (container health check)

  baum send [flags] FILE|DIR|- ...   send files straight to Kafka and wait for their placement
  baum ls   [flags]                  list the files the services hold (HTTP)
  baum get  [flags] ID               download a file, or its metadata with --meta (HTTP)
  baum rm   [flags] ID               delete a file from the services that hold it

  baum help [command]   this text, or a command's flags
  baum --version        the version of this binary

Run "baum help <command>" (or "baum <command> -h") for a command's flags,
"baum --version" for the version.

Exit codes: 0 success, 1 failure, 2 usage error, 3 not found,
4 upload failed (the services gave it up), 5 not settled within --wait.
`

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "baum:", err)
		}
		os.Exit(exitCode(err))
	}
}

func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command")}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:], getenv, stderr)
	case "dev":
		return devCmd(ctx, args[1:], getenv, stderr)
	case "broker":
		return brokerCmd(ctx, args[1:], stderr)
	case "env":
		return envCmd(args[1:], stdout, stderr)
	case "topics":
		return topicsCmd(ctx, args[1:], getenv, stdout, stderr)
	case "health":
		return healthCmd(ctx, args[1:], getenv, stdout, stderr)
	case "send":
		return sendCmd(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "ls":
		return lsCmd(ctx, args[1:], getenv, stdout, stderr)
	case "get":
		return getCmd(ctx, args[1:], getenv, stdout, stderr)
	case "rm":
		return rmCmd(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		return helpCmd(args[1:], getenv, stdin, stdout)
	case "version", "--version":
		return versionCmd(stdout)
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func serveCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "zeros or ones (default $BAUM_ROLE)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	config, err := service.LoadConfig(getenv, *role)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	tuneGC(getenv, processMemoryLimit)
	log, err := logging.New(stderr, logging.Config{Level: config.LogLevel, Format: config.LogFormat},
		slog.String("service", string(config.Role)), slog.String("instance", config.Instance))
	if err != nil {
		return err
	}
	s, err := service.NewService(ctx, config, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// brokerFlags are the flags of `baum broker` beyond the broker's Config.
type brokerFlags struct {
	pprofAddr, metricsAddr, certFile, keyFile string
}

func parseBrokerFlags(args []string, stderr io.Writer) (broker.Config, brokerFlags, error) {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c broker.Config
	var f brokerFlags
	fs.IntVar(&c.Port, "port", 9092, "port to listen on, on 127.0.0.1 (0 picks a free one)")
	fs.StringVar(&c.DataDir, "data-dir", "", "keep topics and offsets in this directory across restarts (default: in memory)")
	fs.IntVar(&c.Partitions, "partitions", 10, "partitions per topic")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", 1048588, "largest message the broker takes (message.max.bytes)")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's profiling endpoints (/debug/pprof/) on this address (default: off)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve the broker's request counts as Prometheus metrics (/metrics) on this address (default: off)")
	fs.StringVar(&f.certFile, "tls-cert", "", "PEM certificate: accept TLS connections only (with --tls-key)")
	fs.StringVar(&f.keyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.Func("sasl-user", "require SASL and accept this login, MECHANISM:name:password (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); repeatable", func(v string) error {
		u, err := broker.ParseUser(v)
		c.Users = append(c.Users, u)
		return err
	})
	if err := parseFlags(fs, args); err != nil {
		return c, f, err
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return c, f, usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return c, f, fmt.Errorf("broker TLS certificate: %w", err)
		}
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return c, f, nil
}

func brokerCmd(ctx context.Context, args []string, stderr io.Writer) error {
	c, f, err := parseBrokerFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.DataDir != "" {
		// In memory the broker's heap holds every record: a memory limit
		// below it would keep the collector running without pause, so such
		// a broker keeps Go's defaults.
		tuneGC(os.Getenv, processMemoryLimit)
	}
	log, _ := logging.New(stderr, logging.Config{}, slog.String("service", "broker"))
	if f.pprofAddr != "" {
		p, err := service.StartProfiler(f.pprofAddr, log)
		if err != nil {
			return err
		}
		defer p.Close()
	}
	b, err := broker.Start(c, log)
	if err != nil {
		return err
	}
	if f.metricsAddr != "" {
		stop, err := serveMetrics(f.metricsAddr, b.MetricsHandler(), log)
		if err != nil {
			b.Close()
			return err
		}
		defer stop()
	}
	<-ctx.Done()
	b.Close()
	log.Info("broker stopped")
	return nil
}

// serveMetrics serves handler at /metrics on addr until stop is called.
func serveMetrics(addr string, handler http.Handler, log *slog.Logger) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	log.Info("metrics listening", "addr", l.Addr().String())
	return func() { srv.Close() }, nil
}

func envCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flagUsage(fs, "baum env", "Lists every BAUM_* variable a service reads, with its default for each role and\nwhat it sets, as a Markdown table (docs/configuration.md is this table).")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "| Variable | Default (zeros / ones) | Meaning |")
	fmt.Fprintln(stdout, "|---|---|---|")
	for _, v := range service.EnvVars() {
		z, o := v.Default("zeros"), v.Default("ones")
		def := "`" + z + "`"
		if z != o {
			def += " / `" + o + "`"
		}
		switch {
		case v.Name == "BAUM_ROLE":
			def = "(required)"
		case z == "":
			def = "(none)"
		}
		fmt.Fprintf(stdout, "| `%s` | %s | %s |\n", v.Name, def, v.Help)
	}
	return nil
}

// devCmd runs everything a developer needs in one process: the in-process
// Kafka-protocol broker and both services, against a local PostgreSQL where
// it creates the databases baum_zeros and baum_ones if missing. BAUM_*
// variables still apply, except those the flags set.
func devCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := service.SystemConfig{Getenv: getenv, Log: stderr, LogFormat: getenv("BAUM_LOG_FORMAT"),
		Ports: map[messages.Service]int{}}
	fs.StringVar(&c.DataDir, "data-dir", "data", "directory for both services' files and the broker's log")
	fs.StringVar(&c.PostgresURL, "postgres", "postgres://postgres@127.0.0.1:5432/?sslmode=disable", "PostgreSQL server (each service gets its own database on it)")
	fs.StringVar(&c.DatabasePrefix, "database-prefix", "baum", "databases are <prefix>_zeros and <prefix>_ones")
	fs.IntVar(&c.KafkaPort, "kafka-port", 9092, "port of the broker (0 picks a free one)")
	zeros := fs.Int("zeros-port", service.DefaultPort(messages.Zeros), "HTTP port of zeros (0 picks a free one)")
	ones := fs.Int("ones-port", service.DefaultPort(messages.Ones), "HTTP port of ones (0 picks a free one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c.Ports[messages.Zeros], c.Ports[messages.Ones] = *zeros, *ones
	tuneGC(getenv, 3*processMemoryLimit) // the broker and both services share this process
	sys, err := service.StartSystem(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\nBAUM is up:\n  zeros  http://%s\n  ones   http://%s\n  kafka  %s\nCtrl-C stops it.\n\n",
		sys.Services[messages.Zeros].Addr(), sys.Services[messages.Ones].Addr(), sys.Broker.Addrs()[0])
	return sys.Run(ctx)
}

// Garbage collector defaults of a BAUM process. A file streams through in
// chunks, so the heap is mostly short-lived buffers (Kafka requests and
// responses, chunks being hashed) over a small live set. With Go's default
// GOGC=100 the collector runs every few MiB allocated: measured on a 1 GiB
// upload it was a large share of the CPU time (the broker's most of all,
// about 12 CPU-seconds per GiB against 7 with these settings), while the
// peak RSS wandered with the collector's timing (up to 70 MiB once).
// GOGC=400 lets the heap grow further between collections, and a soft
// memory limit caps that growth, so collections are rarer while the heap
// is small and the peak RSS stays bounded. 32 MiB leaves a service about
// 10 MiB under the 64 MiB target during a 1 GiB upload (about 54 MiB
// measured; with 40 MiB it peaked at 62 MiB once the binary embedded the
// API docs, too close). See docs/benchmarks.md.
const (
	gcPercent          = 400
	processMemoryLimit = 32 << 20
)

// tuneGC applies those defaults unless the operator set GOGC or GOMEMLIMIT,
// Go's own variables, which keep precedence (raise GOMEMLIMIT for many
// concurrent large uploads: above the limit the collector runs often).
func tuneGC(getenv func(string) string, memoryLimit int64) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
