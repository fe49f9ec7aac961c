package retry_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/baum-store/baum/internal/retry"
)

func TestDoBacksOffDoublingUpToTheCap(t *testing.T) {
	var waits []time.Duration
	var attempts []int
	calls := 0
	fail := errors.New("down")
	err := retry.Do(context.Background(), retry.Policy{First: time.Millisecond, Max: 5 * time.Millisecond, Tries: 5},
		func() error { calls++; return fail },
		func(attempt int, err error, wait time.Duration) {
			attempts, waits = append(attempts, attempt), append(waits, wait)
		})
	if !errors.Is(err, fail) || calls != 5 {
		t.Fatalf("error %v after %d calls, want the failure after 5", err, calls)
	}
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 5 * time.Millisecond}
	if !slices.Equal(waits, want) || !slices.Equal(attempts, []int{1, 2, 3, 4}) {
		t.Errorf("waited %v after attempts %v, want %v after 1..4", waits, attempts, want)
	}
}

func TestDoStopsAtSuccessAtAPermanentFailureAndWhenTheContextEnds(t *testing.T) {
	calls := 0
	if err := retry.Do(context.Background(), retry.Policy{First: time.Millisecond}, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}, nil); err != nil || calls != 3 {
		t.Fatalf("error %v after %d calls", err, calls)
	}

	bad := errors.New("malformed")
	calls = 0
	if err := retry.Do(context.Background(), retry.Policy{First: time.Millisecond}, func() error {
		calls++
		return retry.Permanent(bad)
	}, nil); err != bad || calls != 1 {
		t.Fatalf("permanent failure: error %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	down := errors.New("still down")
	calls = 0
	err := retry.Do(ctx, retry.Policy{First: time.Hour}, func() error { calls++; return down }, nil)
	if !errors.Is(err, down) || !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("error %v after %d calls; want the last failure and the cancellation, without waiting out the hour", err, calls)
	}
}
