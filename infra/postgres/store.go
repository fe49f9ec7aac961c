package postgres

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/messages"
)

// Store is a service's state in PostgreSQL: it implements command.Uploads and
// query.ReadModel.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

var uploadColumns = []string{"id::text", "state", "name", "content_type", "origin", "received_bytes", "staged",
	"staged_count", "staging_error", "size", "sha256", "zero_bits", "one_bits", "keepers", "stored_in", "kept",
	"deleted", "failure_reason", "failure_detail", "failed_by", "created_at", "updated_at"}

func scanUpload(row pgx.Row) (*app.Upload, error) {
	var (
		u                 app.Upload
		state, failedBy   string
		stagedCount       int64
		zeroBits, oneBits *int64
		keepers, storedIn []string
	)
	err := row.Scan(&u.ID, &state, &u.Name, &u.ContentType, &u.Origin, &u.ReceivedBytes, &u.Staged, &stagedCount,
		&u.StagingError, &u.Size, &u.SHA256, &zeroBits, &oneBits, &keepers, &storedIn, &u.Kept, &u.Deleted,
		&u.FailureReason, &u.FailureDetail, &failedBy, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, app.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	u.State, u.FailedBy, u.StagedCount = app.UploadState(state), messages.Service(failedBy), uint64(stagedCount)
	u.ZeroBits, u.OneBits = toUint(zeroBits), toUint(oneBits)
	u.Keepers, u.StoredIn = toServices(keepers), toServices(storedIn)
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

// Get implements command.Uploads.
func (s *Store) Get(ctx context.Context, id string) (*app.Upload, error) {
	return s.Upload(ctx, id)
}

// Upload implements query.ReadModel.
func (s *Store) Upload(ctx context.Context, id string) (*app.Upload, error) {
	sql, args := psql.Select(uploadColumns...).From("uploads").Where(sq.Eq{"id": id}).MustSql()
	u, err := scanUpload(s.pool.QueryRow(ctx, sql, args...))
	return u, s.classify(ctx, err)
}

// Update implements command.Uploads.
func (s *Store) Update(ctx context.Context, id string, fn func(u *app.Upload, files command.FileIndex) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO uploads (id, state) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", id, app.Receiving); err != nil {
			return err
		}
		sql, args := psql.Select(uploadColumns...).From("uploads").Where(sq.Eq{"id": id}).Suffix("FOR UPDATE").MustSql()
		u, err := scanUpload(tx.QueryRow(ctx, sql, args...))
		if err != nil {
			return err
		}
		before := *u
		before.Keepers, before.StoredIn = slices.Clone(u.Keepers), slices.Clone(u.StoredIn)
		if err := fn(u, fileIndex{tx: tx, s: s}); err != nil {
			return callerError{err}
		}
		if reflect.DeepEqual(&before, u) {
			return nil
		}
		sql, args = psql.Update("uploads").SetMap(map[string]any{
			"state": string(u.State), "name": u.Name, "content_type": u.ContentType, "origin": u.Origin,
			"received_bytes": u.ReceivedBytes, "staged": u.Staged, "staged_count": int64(u.StagedCount),
			"staging_error": u.StagingError, "size": u.Size, "sha256": u.SHA256,
			"zero_bits": toInt(u.ZeroBits), "one_bits": toInt(u.OneBits),
			"keepers": fromServices(u.Keepers), "stored_in": fromServices(u.StoredIn),
			"kept": u.Kept, "deleted": u.Deleted, "failure_reason": u.FailureReason,
			"failure_detail": u.FailureDetail, "failed_by": string(u.FailedBy), "updated_at": sq.Expr("now()"),
		}).Where(sq.Eq{"id": id}).MustSql()
		_, err = tx.Exec(ctx, sql, args...)
		return err
	})
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

type fileIndex struct {
	tx pgx.Tx
	s  *Store
}

// Add implements command.FileIndex.
func (f fileIndex) Add(ctx context.Context, file app.File) error {
	sql, args := psql.Insert("files").
		Columns("id", "name", "content_type", "size", "sha256", "zero_bits", "one_bits", "stored_at").
		Values(file.ID, file.Name, file.ContentType, file.Size, file.SHA256, int64(file.ZeroBits), int64(file.OneBits), file.StoredAt).
		Suffix("ON CONFLICT (id) DO NOTHING").MustSql()
	tag, err := f.tx.Exec(ctx, sql, args...)
	if err != nil || tag.RowsAffected() == 0 {
		return f.s.classify(ctx, err)
	}
	_, err = f.tx.Exec(ctx, "UPDATE totals SET total_size = total_size + $1, count = count + 1", file.Size)
	return f.s.classify(ctx, err)
}

var fileColumns = []string{"id::text", "name", "content_type", "size", "sha256", "zero_bits", "one_bits", "stored_at"}

func scanFile(row pgx.Row) (app.File, error) {
	var (
		f                 app.File
		zeroBits, oneBits int64
	)
	err := row.Scan(&f.ID, &f.Name, &f.ContentType, &f.Size, &f.SHA256, &zeroBits, &oneBits, &f.StoredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, app.ErrNotFound
	}
	f.ZeroBits, f.OneBits = uint64(zeroBits), uint64(oneBits)
	return f, err
}

// DeleteFile implements command.Uploads.
func (s *Store) DeleteFile(ctx context.Context, id string) (app.File, bool, error) {
	var (
		f       app.File
		deleted bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sql, args := psql.Delete("files").Where(sq.Eq{"id": id}).Suffix("RETURNING " + strings.Join(fileColumns, ", ")).MustSql()
		var err error
		f, err = scanFile(tx.QueryRow(ctx, sql, args...))
		if errors.Is(err, app.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		deleted = true
		if _, err := tx.Exec(ctx, "UPDATE totals SET total_size = total_size - $1, count = count - 1", f.Size); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE uploads SET kept = false, deleted = true, updated_at = now() WHERE id = $1", id)
		return err
	})
	return f, deleted, s.classify(ctx, err)
}

// Stalled implements command.Uploads.
func (s *Store) Stalled(ctx context.Context, olderThanSeconds float64) ([]string, error) {
	sql, args := psql.Select("id::text").From("uploads").
		Where(sq.Eq{"state": string(app.Receiving), "staged": false, "staging_error": ""}).
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

// Files implements query.ReadModel: the totals and the page come from one
// snapshot, so they always agree.
func (s *Store) Files(ctx context.Context, after string, limit int) (app.Totals, []app.File, error) {
	var (
		totals app.Totals
		files  []app.File
	)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT total_size, count FROM totals").Scan(&totals.TotalSize, &totals.Count); err != nil {
			return err
		}
		q := psql.Select(fileColumns...).From("files").OrderBy("id").Limit(uint64(limit))
		if after != "" {
			q = q.Where(sq.Gt{"id": after})
		}
		sql, args := q.MustSql()
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		files, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.File, error) { return scanFile(row) })
		return err
	})
	return totals, files, s.classify(ctx, err)
}

// File implements query.ReadModel.
func (s *Store) File(ctx context.Context, id string) (app.File, error) {
	sql, args := psql.Select(fileColumns...).From("files").Where(sq.Eq{"id": id}).MustSql()
	f, err := scanFile(s.pool.QueryRow(ctx, sql, args...))
	return f, s.classify(ctx, err)
}

func (s *Store) classify(ctx context.Context, err error) error {
	return classify(ctx, s.pool, err)
}

var _ command.Uploads = (*Store)(nil)

// Totals returns the running totals of held files.
func (s *Store) Totals(ctx context.Context) (app.Totals, error) {
	var t app.Totals
	err := s.pool.QueryRow(ctx, "SELECT total_size, count FROM totals").Scan(&t.TotalSize, &t.Count)
	return t, s.classify(ctx, err)
}
