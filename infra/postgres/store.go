package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// Store is a service's state in PostgreSQL: it implements command.Uploads and
// query.ReadModel.
type Store struct {
	pool     *pgxpool.Pool
	instance string
	commits  *committer
	reads    *reader
}

// StoreConfig configures a Store.
type StoreConfig struct {
	// Committed, if not nil, is handed every record an Update changed, once
	// it committed (a copy the store does not change again): it lets
	// waiters in this process follow an upload without reading it back
	// (domain.Notifier.Committed).
	Committed func(*domain.Upload)
	// Instance names this replica in the notifications its commits send
	// (see Listen), so that it can tell them from other replicas'.
	Instance string
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool, config StoreConfig) *Store {
	return &Store{pool: pool, instance: config.Instance, commits: newCommitter(pool, config.Committed, config.Instance),
		reads: &reader{pool: pool}}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

var uploadColumns = []string{"id::text", "state", "name", "content_type", "origin", "received_bytes", "staged",
	"staged_count", "staging_error", "size", "sha256", "zero_bits", "one_bits", "keepers", "stored_in", "kept",
	"deleted", "failure_reason", "failure_detail", "failed_by", "created_at", "updated_at", "chunk_partition", "chunk_offset",
	"decided_at"}

func scanUpload(row pgx.Row) (*domain.Upload, error) {
	var (
		u                 domain.Upload
		state, failedBy   string
		stagedCount       int64
		zeroBits, oneBits *int64
		keepers, storedIn []string
		chunkPartition    *int32
		chunkOffset       *int64
		decidedAt         *time.Time
	)
	err := row.Scan(&u.ID, &state, &u.Name, &u.ContentType, &u.Origin, &u.ReceivedBytes, &u.Staged, &stagedCount,
		&u.StagingError, &u.Size, &u.SHA256, &zeroBits, &oneBits, &keepers, &storedIn, &u.Kept, &u.Deleted,
		&u.FailureReason, &u.FailureDetail, &failedBy, &u.CreatedAt, &u.UpdatedAt, &chunkPartition, &chunkOffset, &decidedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	u.State, u.FailedBy, u.StagedCount = domain.UploadState(state), messages.Service(failedBy), uint64(stagedCount)
	u.ZeroBits, u.OneBits = toUint(zeroBits), toUint(oneBits)
	u.Keepers, u.StoredIn = toServices(keepers), toServices(storedIn)
	if chunkPartition != nil && chunkOffset != nil {
		u.InLog = &domain.ChunkRecord{Partition: *chunkPartition, Offset: *chunkOffset}
	}
	if decidedAt != nil {
		u.DecidedAt = decidedAt.UTC()
	}
	return &u, nil
}

func toUint(p *int64) *uint64 {
	if p == nil {
		return nil
	}
	v := uint64(*p)
	return &v
}

func toInt(p *uint64) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

func toServices(names []string) []messages.Service {
	out := make([]messages.Service, 0, len(names))
	for _, n := range names {
		out = append(out, messages.Service(n))
	}
	return out
}

func fromServices(services []messages.Service) []string {
	out := make([]string, 0, len(services))
	for _, s := range services {
		out = append(out, string(s))
	}
	return out
}

// Get implements command.Uploads: concurrent Gets share one query (see
// reader).
func (s *Store) Get(ctx context.Context, id string) (*domain.Upload, error) {
	u, err := s.reads.get(ctx, id)
	return u, s.classify(ctx, err)
}

// Upload implements query.ReadModel.
func (s *Store) Upload(ctx context.Context, id string) (*domain.Upload, error) {
	sql, args := psql.Select(uploadColumns...).From("uploads").Where(sq.Eq{"id": id}).MustSql()
	u, err := scanUpload(s.pool.QueryRow(ctx, sql, args...))
	return u, s.classify(ctx, err)
}

// Update implements command.Uploads. Concurrent Updates share group
// commits (see committer).
func (s *Store) Update(ctx context.Context, id string, fn func(u *domain.Upload, files command.FileIndex) error) error {
	err := s.commits.run(ctx, id, fn)
	if ce, ok := errors.AsType[callerError](err); ok {
		return ce.err
	}
	return s.classify(ctx, err)
}

// callerError carries an error of Update's function out of the transaction
// untouched: it is the caller's to judge (a disk error is not the database
// being down), and classify must not mistake it for one of ours.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }
func (e callerError) Unwrap() error { return e.err }

var fileColumns = []string{"id::text", "name", "content_type", "size", "sha256", "zero_bits", "one_bits", "stored_at"}

func scanFile(row pgx.Row) (domain.File, error) {
	var (
		f                 domain.File
		zeroBits, oneBits int64
	)
	err := row.Scan(&f.ID, &f.Name, &f.ContentType, &f.Size, &f.SHA256, &zeroBits, &oneBits, &f.StoredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, domain.ErrNotFound
	}
	f.ZeroBits, f.OneBits = uint64(zeroBits), uint64(oneBits)
	return f, err
}

// DeleteFile implements command.Uploads.
func (s *Store) DeleteFile(ctx context.Context, id string) (domain.File, bool, error) {
	var (
		f       domain.File
		deleted bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The upload's record first: every transaction locks records, then
		// files, then totals, so a delete and a group commit never deadlock.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE", id); err != nil {
			return err
		}
		sql, args := psql.Delete("files").Where(sq.Eq{"id": id}).Suffix("RETURNING " + strings.Join(fileColumns, ", ")).MustSql()
		var err error
		f, err = scanFile(tx.QueryRow(ctx, sql, args...))
		if errors.Is(err, domain.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		deleted = true
		if _, err := tx.Exec(ctx, "UPDATE totals SET total_size = total_size - $1, count = count - 1", f.Size); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, "UPDATE uploads SET kept = false, deleted = true, updated_at = now() WHERE id = $1", id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, notifySQL, notification(s.instance, []string{id}))
		return err
	})
	return f, deleted, s.classify(ctx, err)
}

// Stalled implements command.Uploads.
func (s *Store) Stalled(ctx context.Context, olderThanSeconds float64) ([]string, error) {
	sql, args := psql.Select("id::text").From("uploads").
		Where(sq.Eq{"state": string(domain.Receiving), "staged": false, "staging_error": ""}).
		Where("updated_at < now() - make_interval(secs => ?)", olderThanSeconds).
		OrderBy("updated_at").Limit(1000).MustSql()
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, s.classify(ctx, err)
}

// FileIDs implements command.Uploads.
func (s *Store) FileIDs(ctx context.Context) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, "SELECT id::text FROM files")
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	ids := map[string]bool{}
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		ids[id] = true
		return nil
	})
	return ids, s.classify(ctx, err)
}

func (s *Store) classify(ctx context.Context, err error) error {
	return classify(ctx, s.pool, err)
}

var _ command.Uploads = (*Store)(nil)

// Totals returns the running totals of held files.
func (s *Store) Totals(ctx context.Context) (domain.Totals, error) {
	var t domain.Totals
	err := s.pool.QueryRow(ctx, "SELECT total_size, count FROM totals").Scan(&t.TotalSize, &t.Count)
	return t, s.classify(ctx, err)
}
