// Command baumbench measures BAUM on this machine and prints one table:
// the bit-counting kernel against a memory-read baseline, SHA-256 with and
// without SHA-NI, the staging pass, and then, with the broker and both
// services as separate processes of a freshly built `baum` binary, small
// uploads (uploads/s, p50/p99 latency to the 201 at several
// concurrencies), a big upload (MB/s to the 201 against a baseline that
// writes the same bytes twice to the same filesystem, peak RSS and CPU time
// of each process), the cost of fsync, and GET /data with 100,000 files
// held.
//
// Run it from the repository root (`task bench` does): it needs the Go
// toolchain, to build the binary and run the kernel benchmarks, and
// PostgreSQL, where it creates databases baumbench_<random>_zeros|ones and
// drops them afterwards. Everything else lives in a temporary directory on
// the filesystem under test, removed at the end.
//
// It is a program of its own rather than a test or a `baum` subcommand: it
// starts and stops processes, runs for minutes and prints a report, which
// fit neither `go test` (timeouts, output, `go test ./...` must stay fast)
// nor the production binary.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	dir            string
	postgres       string
	big            int64
	bigRuns        int
	huge           int64
	files          int
	smallDuration  time.Duration
	repeat         int
	concurrency    []int
	fsyncCompare   bool
	kernels        bool
	kernelRuns     int
	profile        string
	profileSeconds int
	keep           bool
	env            []string
	brokerInMemory bool
	partitions     int
	brokerEnv      []string
	small          []smallMix
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "baumbench:", err)
		os.Exit(1)
	}
}

func run() error {
	c, err := parseConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "baumbench-"); err != nil {
			return err
		}
		if !c.keep {
			defer os.RemoveAll(c.dir)
		}
	} else if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		return err
	}
	b := &bench{config: c, root: root, machine: describeMachine(c.dir), started: time.Now()}
	err = b.run(ctx)
	b.machine.LoadAfter = loadAvg()
	b.print(os.Stdout)
	return err
}

func parseConfig() (config, error) {
	c := config{}
	var big, huge, conc, sizes string
	var env, brokerEnv multiFlag
	flag.StringVar(&c.dir, "dir", "", "work directory, on the filesystem to measure (default: a new directory under $TMPDIR, removed afterwards)")
	flag.StringVar(&c.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/?sslmode=disable", "PostgreSQL server for the benchmark's databases")
	flag.StringVar(&big, "big", "1GiB", "size of the big upload (0 skips it); units B, KiB, MiB, GiB")
	flag.IntVar(&c.bigRuns, "big-runs", 2, "big uploads (each paired with a baseline run)")
	flag.StringVar(&huge, "huge", "0", "after the big uploads, one upload of this size (e.g. 8GiB), without a baseline run: MB/s, peak RSS and CPU per GiB; needs about 3× its size on disk (0 skips it)")
	flag.IntVar(&c.files, "files", 100_000, "files held for the GET /data latency (0 skips it)")
	flag.DurationVar(&c.smallDuration, "small-duration", 3*time.Second, "length of one small-upload run")
	flag.IntVar(&c.repeat, "repeat", 3, "runs per small-upload concurrency (their range is reported)")
	flag.StringVar(&conc, "concurrency", "1,8,32", "small-upload concurrencies (empty: no small uploads)")
	flag.StringVar(&sizes, "small", "1KiB,mix", "small-upload series: 1KiB (every file 1 KiB) and/or mix (1–64 KiB)")
	flag.BoolVar(&c.fsyncCompare, "fsync-compare", true, "also measure with BAUM_FSYNC=false (small uploads at the middle concurrency, one big upload)")
	flag.BoolVar(&c.kernels, "kernels", true, "run the kernel and staging benchmarks (go test -bench)")
	flag.IntVar(&c.kernelRuns, "kernel-runs", 5, "repetitions (-count) of the kernel and staging benchmarks")
	flag.StringVar(&c.profile, "profile", "", "write CPU profiles of the three processes during the first big upload (and the first small run at the highest concurrency) into this directory")
	flag.IntVar(&c.profileSeconds, "profile-seconds", 10, "length of the big upload's profiles")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory and the databases")
	flag.Var(&env, "env", "extra KEY=VALUE for both services (repeatable), e.g. -env BAUM_CHUNK_SIZE=786432")
	flag.Var(&brokerEnv, "broker-env", "extra KEY=VALUE for the broker (repeatable), e.g. -broker-env GOGC=100")
	flag.IntVar(&c.partitions, "partitions", 0, "partitions per topic of the broker (0: its default)")
	flag.BoolVar(&c.brokerInMemory, "broker-in-memory", false, "run the broker without a data directory (kfake keeps every record in memory)")
	flag.Parse()
	var err error
	if c.big, err = parseSize(big); err != nil {
		return c, fmt.Errorf("-big: %w", err)
	}
	if c.huge, err = parseSize(huge); err != nil {
		return c, fmt.Errorf("-huge: %w", err)
	}
	for _, s := range strings.Split(conc, ",") {
		if strings.TrimSpace(s) == "" {
			continue // -concurrency= skips the small uploads
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return c, fmt.Errorf("-concurrency: %q is not a positive number", s)
		}
		c.concurrency = append(c.concurrency, n)
	}
	for _, s := range strings.Split(sizes, ",") {
		m, ok := smallMixes[strings.TrimSpace(s)]
		if !ok {
			return c, fmt.Errorf("-small: %q is not 1KiB or mix", s)
		}
		c.small = append(c.small, m)
	}
	c.env, c.brokerEnv = env, brokerEnv
	return c, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run baumbench inside the BAUM repository (go run ./cmd/baumbench)")
	}
	return filepath.Dir(mod), nil
}

// bench is one benchmark run: its configuration, the processes it started
// and the rows of its table.
type bench struct {
	config
	root    string
	machine machine
	started time.Time
	rows    []row
	notes   []string

	bin      string
	prefix   string // database prefix
	broker   *proc
	services map[string]*proc
	urls     map[string]string
	kafka    string
	// brokerMetrics is the URL of the broker's /metrics.
	brokerMetrics string
}

var roles = []string{"zeros", "ones"}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) (err error) {
	if b.kernels {
		if err := b.runKernels(); err != nil {
			return err
		}
	}
	if len(b.concurrency) == 0 && b.big == 0 && b.huge == 0 && b.files == 0 {
		return nil
	}
	if err := b.build(); err != nil {
		return err
	}
	defer b.cleanUp()
	if err := b.startBroker(ctx); err != nil {
		return err
	}
	if err := b.startServices(ctx, nil); err != nil {
		return err
	}
	b.notef("Services: `baum serve` ×2 and `baum broker --data-dir` (kfake), separate processes built from this tree; databases %s_zeros|ones; work directory %s.", b.prefix, b.dir)
	if len(b.env) > 0 {
		b.notef("Extra service environment: %s.", strings.Join(b.env, " "))
	}
	if err := b.runUploads(ctx, "", b.concurrency, b.bigRuns, true); err != nil {
		return err
	}
	if b.fsyncCompare {
		b.logf("restarting the services with BAUM_FSYNC=false")
		if err := b.restartServices(ctx, []string{"BAUM_FSYNC=false"}); err != nil {
			return err
		}
		var mid []int
		if len(b.concurrency) > 0 {
			mid = []int{b.concurrency[len(b.concurrency)/2]}
		}
		if err := b.runUploads(ctx, " (BAUM_FSYNC=false)", mid, 1, false); err != nil {
			return err
		}
	}
	if b.files > 0 {
		if err := b.runList(ctx); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// runUploads runs the small uploads at each concurrency, then bigRuns big
// ones.
func (b *bench) runUploads(ctx context.Context, label string, concurrency []int, bigRuns int, withBaseline bool) error {
	if len(concurrency) > 0 {
		if err := b.runSmall(ctx, label, concurrency); err != nil {
			return err
		}
	}
	if b.big > 0 {
		if err := b.runBig(ctx, label, bigRuns, withBaseline); err != nil {
			return err
		}
	}
	if b.huge > 0 && label == "" {
		return b.runBigOf(ctx, b.huge, " (-huge, one run)", 1, false)
	}
	return nil
}

// build builds the baum binary the processes run and names the databases.
func (b *bench) build() error {
	b.logf("building baum")
	b.bin = filepath.Join(b.dir, "baum")
	build := exec.Command("go", "build", "-o", b.bin, "./cmd/baum")
	build.Dir = b.root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	b.prefix = "baumbench_" + hex.EncodeToString(suffix)
	return nil
}

// cleanUp stops the processes and drops the databases (unless -keep).
func (b *bench) cleanUp() {
	b.stopAll()
	if b.keep {
		return
	}
	dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if derr := dropDatabases(dctx, b.postgres, b.prefix+"_zeros", b.prefix+"_ones"); derr != nil {
		b.logf("dropping the databases: %v", derr)
	}
}

func (b *bench) notef(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

func since(t time.Time) string { return time.Since(t).Round(time.Second).String() }
