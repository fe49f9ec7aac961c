package postgres

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
)

// committer runs Updates in group commits: the Updates that arrive while a
// transaction is running wait, and all of them go into the next one. Each
// handler of a message runs an Update, and the router handles one message
// per partition at a time, so under load dozens arrive together; one
// transaction for all of them costs one commit (one WAL flush) instead of
// one each, and one statement per kind of change instead of one per
// message (docs/benchmarks.md). An Update alone waits for nothing: with
// nothing in flight its transaction starts at once.
//
// Each Update keeps its promises: its function sees the record locked
// (SELECT ... FOR UPDATE, in the transaction that writes it), what it did
// commits with its record or not at all, and an Update returns only once
// its transaction committed. An Update whose function fails leaves nothing
// behind and does not fail the others; a transaction that fails is run
// again one Update at a time, so that one bad Update fails alone.
type committer struct {
	pool *pgxpool.Pool
	// committed is handed each record an Update changed, once committed.
	committed func(*domain.Upload)
	// instance signs the notification of each commit (see Listen).
	instance string
	// maxBatch bounds the Updates in one transaction (its statements carry
	// arrays of that many rows).
	maxBatch int

	mu      sync.Mutex
	queue   []*update
	running bool
	// transactions counts the transactions begun, for tests.
	transactions atomic.Int64
}

// update is one Update waiting for its transaction.
type update struct {
	ctx  context.Context
	id   string
	fn   func(u *domain.Upload, files command.FileIndex) error
	done chan error // buffered: the committer never blocks on a caller

	files []domain.File // what fn added, kept until its record is saved
}

func newCommitter(pool *pgxpool.Pool, committed func(*domain.Upload), instance string) *committer {
	if committed == nil {
		committed = func(*domain.Upload) {}
	}
	return &committer{pool: pool, committed: committed, instance: instance, maxBatch: 256}
}

// run queues fn for id's record and waits for its transaction. A caller
// whose context ends while its Update is still queued gets the context's
// error and its Update never runs; once its transaction has begun, the
// caller waits for it to end, so that it never mistakes a committed change
// for a failed one.
func (c *committer) run(ctx context.Context, id string, fn func(u *domain.Upload, files command.FileIndex) error) error {
	u := &update{ctx: ctx, id: id, fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, u)
	if !c.running {
		c.running = true
		go c.loop()
	}
	c.mu.Unlock()
	return <-u.done
}

// loop commits batches until the queue is empty.
func (c *committer) loop() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), c.maxBatch)
		if n == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		batch := slices.Clone(c.queue[:n])
		c.queue = slices.Delete(c.queue, 0, n)
		c.mu.Unlock()
		c.commit(batch)
	}
}

// commit runs one batch; if its transaction fails, each Update is run
// again in a transaction of its own.
func (c *committer) commit(batch []*update) {
	live := batch[:0]
	for _, u := range batch {
		if err := u.ctx.Err(); err != nil {
			u.done <- err
			continue
		}
		live = append(live, u)
	}
	if len(live) == 0 {
		return
	}
	results, err := c.transact(live)
	if err != nil && len(live) > 1 {
		for _, u := range live {
			u.files = nil
			c.commit([]*update{u})
		}
		return
	}
	for i, u := range live {
		if err != nil {
			u.done <- err
		} else {
			u.done <- results[i]
		}
	}
}

// transact runs the batch's Updates in one transaction. It returns each
// function's own error (nil for those that succeeded), or the
// transaction's error, which is every Update's.
func (c *committer) transact(batch []*update) (_ []error, err error) {
	// Not the callers' contexts: one caller's going away must not cancel
	// the others' transaction. A statement timeout bounds it instead.
	ctx, cancel := context.WithTimeout(context.Background(), transactionTimeout)
	defer cancel()
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	c.transactions.Add(1)
	// Released after the deferred rollback below. A connection still inside
	// a transaction (the rollback failed too) is closed by the pool, never
	// handed out again.
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn.Exec(rctx, "ROLLBACK")
		}
	}()
	records, err := lockRecords(ctx, conn, batch)
	if err != nil {
		return nil, err
	}
	results, changed, files := apply(batch, records)
	if err := saveRecords(ctx, conn, changed, files, c.instance); err != nil {
		return nil, err
	}
	committed = true
	for _, u := range changed {
		c.committed(u)
	}
	return results, nil
}

// transactionTimeout bounds one group commit.
const transactionTimeout = 30 * time.Second

// lockRecords begins the transaction, creates the records that do not
// exist yet and reads every record of the batch, locked: one round trip.
func lockRecords(ctx context.Context, conn *pgxpool.Conn, batch []*update) (map[string]*domain.Upload, error) {
	ids := make([]string, 0, len(batch))
	for _, u := range batch {
		if !slices.Contains(ids, u.id) {
			ids = append(ids, u.id)
		}
	}
	slices.Sort(ids) // lock in one order: two batches never deadlock
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("INSERT INTO uploads (id, state) SELECT unnest($1::uuid[]), $2 ON CONFLICT (id) DO NOTHING", ids, domain.Receiving)
	sql, _ := lockSQL()
	b.Queue(sql, ids)
	results := conn.SendBatch(ctx, b)
	_, errBegin := results.Exec()
	_, errInsert := results.Exec()
	records := make(map[string]*domain.Upload, len(ids))
	rows, errLock := results.Query()
	if errLock == nil {
		for rows.Next() {
			u, err := scanUpload(rows)
			if err != nil {
				errLock = err
				break
			}
			records[u.ID] = u
		}
		rows.Close()
		errLock = errors.Join(errLock, rows.Err())
	}
	return records, errors.Join(errBegin, errInsert, errLock, results.Close())
}

// apply runs the Updates' functions on their records: the Updates of one
// record in turn, in the order they came, each seeing the changes of those
// before it; the records of different uploads at the same time (their
// functions do disk work, a promotion's sync, that would otherwise queue
// up). It returns each function's error, the records that changed and the
// files added.
func apply(batch []*update, records map[string]*domain.Upload) (results []error, changed []*domain.Upload, files []domain.File) {
	results = make([]error, len(batch))
	added := make([][]domain.File, len(batch))
	byID := map[string][]int{}
	for i, u := range batch {
		byID[u.id] = append(byID[u.id], i)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, indices := range byID {
		rec, ok := records[id]
		if !ok {
			for _, i := range indices {
				results[i] = errors.New("the record was not read back")
			}
			continue
		}
		wg.Go(func() {
			final := rec
			for _, i := range indices {
				work := clone(final)
				idx := &fileBuffer{}
				if err := batch[i].fn(work, idx); err != nil {
					results[i] = callerError{err}
					continue
				}
				final, added[i] = work, idx.files
			}
			if !reflect.DeepEqual(rec, final) {
				final.UpdatedAt = time.Now().UTC()
				mu.Lock()
				changed = append(changed, final)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, f := range added {
		files = append(files, f...)
	}
	return results, changed, files
}

func clone(u *domain.Upload) *domain.Upload {
	c := *u
	c.Keepers, c.StoredIn = slices.Clone(u.Keepers), slices.Clone(u.StoredIn)
	return &c
}

// fileBuffer keeps what an Update's function adds to the file index until
// its record is saved.
type fileBuffer struct{ files []domain.File }

// Add implements command.FileIndex.
func (b *fileBuffer) Add(_ context.Context, f domain.File) error {
	b.files = append(b.files, f)
	return nil
}

// saveRecords writes the changed records and the added files, adds the
// files that were not held yet to the totals, and commits: one round trip.
func saveRecords(ctx context.Context, conn *pgxpool.Conn, changed []*domain.Upload, files []domain.File, instance string) error {
	b := &pgx.Batch{}
	if len(changed) > 0 {
		queueSaveUploads(b, changed)
		queueNotify(b, instance, changed)
	}
	if len(files) > 0 {
		queueAddFiles(b, files)
	}
	// After a failed statement the server skips the rest of the batch, the
	// COMMIT included, and the deferred ROLLBACK ends the transaction.
	b.Queue("COMMIT")
	return conn.SendBatch(ctx, b).Close()
}

var lockSQL = psql.Select(uploadColumns...).From("uploads").Where("id = ANY($1::uuid[])").
	OrderBy("uploads.id").Suffix("FOR UPDATE").MustSql

// saveUploadsSQL writes many records in one statement, from arrays of
// their columns. keepers and stored_in travel comma-joined (an array of
// arrays would not unnest into rows).
const saveUploadsSQL = `UPDATE uploads SET state = v.state, name = v.name, content_type = v.content_type, origin = v.origin,
	received_bytes = v.received_bytes, staged = v.staged, staged_count = v.staged_count, staging_error = v.staging_error,
	size = v.size, sha256 = v.sha256, zero_bits = v.zero_bits, one_bits = v.one_bits,
	keepers = string_to_array(v.keepers, ','), stored_in = string_to_array(v.stored_in, ','),
	kept = v.kept, deleted = v.deleted, failure_reason = v.failure_reason, failure_detail = v.failure_detail,
	failed_by = v.failed_by, updated_at = v.updated_at,
	chunk_partition = v.chunk_partition, chunk_offset = v.chunk_offset, decided_at = v.decided_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bool[], $8::bigint[], $9::text[],
	$10::bigint[], $11::text[], $12::bigint[], $13::bigint[], $14::text[], $15::text[], $16::bool[], $17::bool[],
	$18::text[], $19::text[], $20::text[], $21::timestamptz[], $22::integer[], $23::bigint[], $24::timestamptz[])
	AS v(id, state, name, content_type, origin, received_bytes, staged, staged_count, staging_error, size, sha256,
	zero_bits, one_bits, keepers, stored_in, kept, deleted, failure_reason, failure_detail, failed_by, updated_at,
	chunk_partition, chunk_offset, decided_at)
WHERE uploads.id = v.id`

func queueSaveUploads(b *pgx.Batch, us []*domain.Upload) {
	n := len(us)
	var (
		ids, states, names, types, origins, errs, sums, keepers, storedIn, reasons, details, failedBy = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		received, counts, sizes = make([]int64, n), make([]int64, n), make([]int64, n)
		zeros, ones             = make([]*int64, n), make([]*int64, n)
		staged, kept, deleted   = make([]bool, n), make([]bool, n), make([]bool, n)
		updated                 = make([]time.Time, n)
		partitions              = make([]*int32, n)
		offsets                 = make([]*int64, n)
		decided                 = make([]*time.Time, n)
	)
	for i, u := range us {
		ids[i], states[i], names[i], types[i], origins[i] = u.ID, string(u.State), u.Name, u.ContentType, u.Origin
		received[i], staged[i], counts[i], errs[i] = u.ReceivedBytes, u.Staged, int64(u.StagedCount), u.StagingError
		sizes[i], sums[i], zeros[i], ones[i] = u.Size, u.SHA256, toInt(u.ZeroBits), toInt(u.OneBits)
		keepers[i], storedIn[i] = strings.Join(fromServices(u.Keepers), ","), strings.Join(fromServices(u.StoredIn), ",")
		kept[i], deleted[i], reasons[i], details[i], failedBy[i] = u.Kept, u.Deleted, u.FailureReason, u.FailureDetail, string(u.FailedBy)
		updated[i] = u.UpdatedAt
		if u.InLog != nil {
			partitions[i], offsets[i] = &u.InLog.Partition, &u.InLog.Offset
		}
		if !u.DecidedAt.IsZero() {
			decided[i] = &u.DecidedAt
		}
	}
	b.Queue(saveUploadsSQL, ids, states, names, types, origins, received, staged, counts, errs, sizes, sums, zeros, ones,
		keepers, storedIn, kept, deleted, reasons, details, failedBy, updated, partitions, offsets, decided)
}

// addFilesSQL adds files that are not held yet and exactly those to the
// totals, in one statement.
const addFilesSQL = `WITH added AS (
	INSERT INTO files (id, name, content_type, size, sha256, zero_bits, one_bits, stored_at)
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[])
	ON CONFLICT (id) DO NOTHING RETURNING size)
UPDATE totals SET total_size = total_size + (SELECT coalesce(sum(size), 0) FROM added), count = count + (SELECT count(*) FROM added)`

func queueAddFiles(b *pgx.Batch, files []domain.File) {
	var (
		ids, names, types, sums []string
		sizes, zeros, ones      []int64
		at                      []time.Time
	)
	for _, f := range files {
		if slices.Contains(ids, f.ID) {
			continue // added twice in one batch: the first counts
		}
		ids, names, types, sums = append(ids, f.ID), append(names, f.Name), append(types, f.ContentType), append(sums, f.SHA256)
		sizes, zeros, ones = append(sizes, f.Size), append(zeros, int64(f.ZeroBits)), append(ones, int64(f.OneBits))
		at = append(at, f.StoredAt)
	}
	b.Queue(addFilesSQL, ids, names, types, sizes, sums, zeros, ones, at)
}
