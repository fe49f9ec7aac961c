package service

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// The upload gate refuses uploads while Kafka is down, and learns that it is
// back from watchKafka: a broker restarted at once must not cost a whole
// probe interval (2 s) of refused uploads.
func TestKafkaComingBackIsNoticedWellWithinTheProbeInterval(t *testing.T) {
	var down atomic.Bool
	r := &readiness{log: slog.New(slog.DiscardHandler), kafka: func(context.Context) error {
		if down.Load() {
			return errors.New("no broker")
		}
		return nil
	}}
	r.kafkaUp.Store(true)
	const interval = 2 * time.Second
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	down.Store(true)
	go r.watchKafka(ctx, interval)
	waitUntil(t, 2*interval, func() bool { return !r.kafkaUp.Load() })
	// The broker comes back just after a probe found it down.
	time.Sleep(interval / 20)
	down.Store(false)
	back := time.Now()
	waitUntil(t, 2*interval, r.kafkaUp.Load)
	if took := time.Since(back); took > interval/4 {
		t.Errorf("Kafka back for %s before the upload gate knew (probe interval %s)", took, interval)
	}
}

func waitUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
