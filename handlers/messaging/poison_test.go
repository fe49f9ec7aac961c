package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/messages"
)

func TestOnlyFailuresThatWillNotPassArePoisoned(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"database down", fmt.Errorf("%w: database: %w", domain.ErrUnavailable, &pgconn.ConnectError{}), false},
		{"broker down", fmt.Errorf("publish: %w", fmt.Errorf("%w: publish BitsCounted: client has run out of available brokers", domain.ErrUnavailable)), false},
		{"disk not writable yet", fmt.Errorf("%w: store file x: read-only file system", domain.ErrUnavailable), false},
		{"shutdown", fmt.Errorf("handle: %w", context.Canceled), false},
		{"unavailable among others", errors.Join(errors.New("x"), domain.ErrUnavailable), false},
		{"malformed", fmt.Errorf("%w: baum.BitsCounted.v1: unexpected end of JSON input", messages.ErrMalformed), true},
		{"constraint violation", &pgconn.PgError{Code: "23514", Message: "violates check constraint"}, true},
		{"file never staged", fmt.Errorf("store file x: %w", domain.ErrNotStaged), true},
		{"a bug", errors.New("panic occurred: index out of range"), true},
		{"handler timed out", context.DeadlineExceeded, true},
	}
	for _, c := range cases {
		if got := messaging.Poisonous(c.err); got != c.want {
			t.Errorf("%s: Poisonous(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
