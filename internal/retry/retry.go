// Package retry is BAUM's back-off loop, on cenkalti/backoff: the start of a
// service waiting for its database and Kafka and the router retrying a
// failing message in process retry through it, each with its own Policy.
// The third loop, a failed upload's abort (messages.Sender.AbortRetrying),
// calls cenkalti/backoff itself: it is in the public contract, which outside
// programs build from, and so imports no package of BAUM's but its own.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy says how to retry: wait First after the first failure, twice as
// long after each next one, never more than Max.
type Policy struct {
	// First is the wait after the first failure.
	First time.Duration
	// Max caps the wait.
	Max time.Duration
	// Tries bounds the attempts, the first included; 0 retries until the
	// operation succeeds, fails permanently or ctx ends.
	Tries int
}

// Notify hears of each failed attempt that will be retried, and of how
// long the next wait is.
type Notify func(attempt int, err error, wait time.Duration)

// Permanent wraps an error that retrying cannot mend: Do returns it (the
// error itself, unwrapped) at once.
func Permanent(err error) error { return backoff.Permanent(err) }

// Do runs op until it succeeds, fails permanently, runs out of tries or ctx
// ends. It returns nil, the last failure, or — when ctx ended — the last
// failure joined with ctx's error, so errors.Is finds both.
func Do(ctx context.Context, p Policy, op func() error, notify Notify) error {
	b := &backoff.ExponentialBackOff{InitialInterval: p.First, Multiplier: 2, MaxInterval: max(p.Max, p.First)}
	attempt := 0
	var last error
	opts := []backoff.RetryOption{
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			if notify != nil {
				notify(attempt, err, wait)
			}
		}),
	}
	if p.Tries > 0 {
		opts = append(opts, backoff.WithMaxTries(uint(p.Tries)))
	}
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		last = op()
		return struct{}{}, last
	}, opts...)
	if err != nil && ctx.Err() != nil && last != nil && !errors.Is(err, last) {
		return errors.Join(last, err)
	}
	return err
}
