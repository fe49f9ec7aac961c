package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// waits records the retry_in of every "retrying" log line.
type waits struct {
	mu  sync.Mutex
	got []string
}

func (w *waits) Enabled(context.Context, slog.Level) bool { return true }
func (w *waits) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *waits) WithGroup(string) slog.Handler            { return w }
func (w *waits) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "retry_in" {
			w.mu.Lock()
			w.got = append(w.got, a.Value.String())
			w.mu.Unlock()
		}
		return true
	})
	return nil
}

func TestRetryBacksOffThenGivesUpWithTheAttemptsInTheMessage(t *testing.T) {
	failures := []struct {
		name     string
		err      error
		attempts int
		waits    []string
		poison   bool
	}{
		{"a failure that will not pass", errors.New("violates check constraint"), 5, []string{"1ms", "2ms", "4ms", "5ms"}, true},
		{"a malformed message", fmt.Errorf("%w: bad header", messages.ErrMalformed), 1, nil, true},
		{"a passing failure", fmt.Errorf("%w: database down", domain.ErrUnavailable), 5, []string{"1ms", "2ms", "4ms", "5ms"}, false},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			log := &waits{}
			mw := retryInProcess(RouterConfig{Self: messages.Ones, MaxRetries: 4, RetryInterval: time.Millisecond, MaxRetryInterval: 5 * time.Millisecond}, slog.New(log))
			calls := 0
			msg := message.NewMessage("m1", nil)
			_, err := mw(func(*message.Message) ([]*message.Message, error) { calls++; return nil, f.err })(msg)
			if !errors.Is(err, f.err) || calls != f.attempts {
				t.Fatalf("error %v after %d calls, want %d", err, calls, f.attempts)
			}
			if !slices.Equal(log.got, f.waits) {
				t.Errorf("waited %v, want %v", log.got, f.waits)
			}
			want := map[bool][2]string{true: {fmt.Sprint(f.attempts), "ones"}, false: {"", ""}}[f.poison]
			if got := [2]string{msg.Metadata.Get(messages.HeaderAttemptsPoisoned), msg.Metadata.Get(messages.HeaderServicePoisoned)}; got != want {
				t.Errorf("headers %v, want %v", got, want)
			}
		})
	}
}

func TestRetryStopsWhenTheMessageSucceedsOrTheRouterCloses(t *testing.T) {
	mw := retryInProcess(RouterConfig{Self: messages.Zeros, MaxRetries: 3, RetryInterval: time.Millisecond, MaxRetryInterval: time.Millisecond},
		slog.New(slog.DiscardHandler))
	calls := 0
	_, err := mw(func(*message.Message) ([]*message.Message, error) {
		if calls++; calls < 3 {
			return nil, errors.New("not yet")
		}
		return nil, nil
	})(message.NewMessage("m2", nil))
	if err != nil || calls != 3 {
		t.Fatalf("error %v after %d calls", err, calls)
	}

	// A failure while stopping (a query cut short) is not poison.
	ctx, cancel := context.WithCancel(context.Background())
	msg := message.NewMessage("m4", nil)
	msg.SetContext(ctx)
	_, err = mw(func(*message.Message) ([]*message.Message, error) {
		cancel()
		return nil, errors.New("conn closed")
	})(msg)
	if Poisonous(err) || msg.Metadata.Get(messages.HeaderAttemptsPoisoned) != "" {
		t.Fatalf("a failure while stopping would be poisoned: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	msg = message.NewMessage("m3", nil)
	msg.SetContext(ctx)
	mw = retryInProcess(RouterConfig{Self: messages.Zeros, MaxRetries: 3, RetryInterval: time.Hour, MaxRetryInterval: time.Hour}, slog.New(slog.DiscardHandler))
	calls = 0
	time.AfterFunc(10*time.Millisecond, cancel)
	_, err = mw(func(*message.Message) ([]*message.Message, error) { calls++; return nil, errors.New("fails") })(msg)
	if !errors.Is(err, context.Canceled) || calls != 1 || Poisonous(err) {
		t.Fatalf("error %v after %d calls; a closing router must not wait out the back-off nor poison", err, calls)
	}
}
