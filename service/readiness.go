package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/infra/kafka"
)

// check is one readiness check: nil when the dependency works.
type check func(ctx context.Context) error

// recent remembers a check's verdict for a while: the upload gate asks on
// every upload, and a database round trip per upload was a commit per
// upload in pg_stat_database and as costly as the upload's own statements
// (docs/benchmarks.md). A verdict older than ttl is asked again; /readyz
// always asks, and refreshes it.
type recent struct {
	check check
	ttl   time.Duration

	mu  sync.Mutex
	at  time.Time
	err error
}

func (r *recent) get(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.at) < r.ttl {
		return r.err
	}
	return r.refreshLocked(ctx)
}

func (r *recent) refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshLocked(ctx)
}

func (r *recent) refreshLocked(ctx context.Context) error {
	r.err = r.check(ctx)
	r.at = time.Now()
	return r.err
}

// readiness answers /readyz and gates uploads and deletes: nothing is
// accepted that could not be carried through right now. It implements the
// HTTP port's Readiness.
type readiness struct {
	database *recent
	kafka    check
	router   *message.Router
	storage  check
	log      *slog.Logger
	// lag reads the consumer groups' lag, for /readyz's body.
	lag func(ctx context.Context) ([]kafka.PartitionLag, error)

	// kafkaUp is the last probe's verdict: uploads must not wait on a
	// metadata round trip each (see watchKafka).
	kafkaUp atomic.Bool
}

// Ready implements the HTTP port's Readiness: every check runs at once.
func (r *readiness) Ready(ctx context.Context) (map[string]string, bool) {
	checks := map[string]check{"database": r.database.refresh, "kafka": r.kafka, "router": r.routerRunning, "storage": r.storage}
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	results := make(map[string]string, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready := true
	for _, name := range names {
		wg.Go(func() {
			status := "ok"
			if err := checks[name](ctx); err != nil {
				status = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			results[name] = status
			ready = ready && status == "ok"
		})
	}
	wg.Wait()
	return results, ready
}

// Accepting implements the HTTP port's Readiness.
func (r *readiness) Accepting(ctx context.Context) error {
	if !r.kafkaUp.Load() {
		return errors.New("Kafka is unavailable")
	}
	if err := r.routerRunning(ctx); err != nil {
		return fmt.Errorf("message router %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.database.get(pctx); err != nil {
		return errors.New("the database is unavailable")
	}
	return nil
}

func (r *readiness) routerRunning(context.Context) error {
	select {
	case <-r.router.Running():
		if r.router.IsClosed() {
			return errors.New("closed")
		}
		return nil
	default:
		return errors.New("not running yet")
	}
}

// watchKafka probes Kafka every interval until ctx ends, keeping kafkaUp
// fresh for the upload gate. While Kafka is down it probes every
// interval/downFactor: uploads are refused until a probe sees it back, and a
// broker restarted at once is back within a second.
func (r *readiness) watchKafka(ctx context.Context, interval time.Duration) {
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := r.kafka(pctx)
			cancel()
			up := err == nil
			if up != r.kafkaUp.Swap(up) {
				r.log.Warn("Kafka status changed", "up", up, "error", err)
			}
			if up {
				timer.Reset(interval)
			} else {
				timer.Reset(interval / downFactor)
			}
		}
	}
}

// downFactor is how much more often watchKafka probes a Kafka that is down.
const downFactor = 10
