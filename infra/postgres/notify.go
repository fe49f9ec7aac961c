package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/internal/retry"
)

// The replicas of a role share its database; a commit tells the others
// which upload records it changed, on this channel (PostgreSQL's NOTIFY,
// sent when and only when the transaction commits), so that a replica whose
// HTTP request waits for an upload another replica handles wakes at once
// instead of at its next poll.
const notifyChannel = "baum_uploads"

const notifySQL = "SELECT pg_notify('" + notifyChannel + "', $1)"

// notification is a payload: the sending instance, then the ids.
func notification(instance string, ids []string) string {
	return instance + " " + strings.Join(ids, ",")
}

// maxNotification keeps a payload under PostgreSQL's 8000 bytes.
const maxNotification = 7000

func queueNotify(b *pgx.Batch, instance string, changed []*domain.Upload) {
	var ids []string
	size := len(instance)
	for _, u := range changed {
		if size+len(u.ID)+1 > maxNotification {
			b.Queue(notifySQL, notification(instance, ids))
			ids, size = nil, len(instance)
		}
		ids = append(ids, u.ID)
		size += len(u.ID) + 1
	}
	b.Queue(notifySQL, notification(instance, ids))
}

// Listen calls changed with the id of every upload record another replica
// (another Instance) commits a change of, until ctx ends. It holds a
// connection of its own, and connects again after losing it.
func Listen(ctx context.Context, pool *pgxpool.Pool, instance string, changed func(id string)) {
	retry.Do(ctx, retry.Policy{First: 100 * time.Millisecond, Max: 5 * time.Second}, func() error {
		err := listen(ctx, pool, instance, changed)
		if ctx.Err() != nil {
			return retry.Permanent(ctx.Err())
		}
		return err
	}, nil)
}

func listen(ctx context.Context, pool *pgxpool.Pool, instance string, changed func(id string)) error {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection is not given back: its session is the one
	// subscribed.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	for {
		n, err := waitForNotification(ctx, conn)
		if err != nil {
			return err
		}
		if n == nil {
			continue // quiet, and the connection answers
		}
		from, ids, ok := strings.Cut(n.Payload, " ")
		if !ok || from == instance {
			continue
		}
		for _, id := range strings.Split(ids, ",") {
			if id != "" {
				changed(id)
			}
		}
	}
}

// listenIdle is how long a listening connection may stay silent before it
// is asked whether it is still there: a connection whose peer vanished
// without a reset (a network cut, a failover) would otherwise wait until
// TCP keepalive gives up, most of an hour, while the waits of this replica
// hear of other replicas' commits only through their poll.
var listenIdle atomic.Int64 // a time.Duration; 30 s (init), tests shorten it

func init() { listenIdle.Store(int64(30 * time.Second)) }

// waitForNotification waits up to listenIdle for a notification; after a
// silence it checks the connection with a query and returns nil, nil if
// it answers. A timeout leaves a pgx connection usable (only other errors
// close it).
func waitForNotification(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	idle := time.Duration(listenIdle.Load())
	wctx, cancel := context.WithTimeout(ctx, idle)
	n, err := conn.WaitForNotification(wctx)
	cancel()
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return n, err
	}
	pctx, cancel := context.WithTimeout(ctx, min(idle, 5*time.Second))
	defer cancel()
	if _, err := conn.Exec(pctx, "SELECT 1"); err != nil {
		return nil, fmt.Errorf("listening connection: %w", err)
	}
	return nil, nil
}
