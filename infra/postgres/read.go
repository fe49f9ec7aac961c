package postgres

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/domain"
)

// reader reads upload records for the use cases in groups, as committer
// writes them: the Gets that arrive while a read runs share the next one,
// one query for all (WHERE id = ANY). A handler's first look at an upload
// is a Get, and each was a round trip and a transaction of its own.
type reader struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	queue   []*read
	running bool
}

type read struct {
	ctx  context.Context
	id   string
	done chan readResult
}

type readResult struct {
	u   *domain.Upload
	err error
}

// get reads id's record, with the reads of other callers at the same time.
func (r *reader) get(ctx context.Context, id string) (*domain.Upload, error) {
	q := &read{ctx: ctx, id: id, done: make(chan readResult, 1)}
	r.mu.Lock()
	r.queue = append(r.queue, q)
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
	res := <-q.done
	return res.u, res.err
}

func (r *reader) loop() {
	for {
		r.mu.Lock()
		n := min(len(r.queue), 1000)
		if n == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		batch := slices.Clone(r.queue[:n])
		r.queue = slices.Delete(r.queue, 0, n)
		r.mu.Unlock()
		r.readBatch(batch)
	}
}

func (r *reader) readBatch(batch []*read) {
	var ids []string
	live := batch[:0]
	for _, q := range batch {
		if err := q.ctx.Err(); err != nil {
			q.done <- readResult{err: err}
			continue
		}
		live = append(live, q)
		ids = append(ids, q.id)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), transactionTimeout)
	defer cancel()
	records, err := r.query(ctx, ids)
	for _, q := range live {
		switch u, ok := records[q.id]; {
		case err != nil:
			q.done <- readResult{err: err}
		case !ok:
			q.done <- readResult{err: domain.ErrNotFound}
		default:
			q.done <- readResult{u: clone(u)}
		}
	}
}

var readSQL = psql.Select(uploadColumns...).From("uploads").Where("id = ANY($1::uuid[])").MustSql

func (r *reader) query(ctx context.Context, ids []string) (map[string]*domain.Upload, error) {
	sql, _ := readSQL()
	rows, err := r.pool.Query(ctx, sql, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	records := map[string]*domain.Upload{}
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, err
		}
		records[u.ID] = u
	}
	return records, errors.Join(rows.Err())
}
