package postgres

import (
	"context"
	"errors"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// heldColumns are a held file's columns with, from its upload's record,
// what says where it is held (domain.Upload.Holders). The record is joined
// by primary key, one index lookup per file of a page.
var heldColumns = []string{"files.id::text", "files.name", "files.content_type", "files.size", "files.sha256",
	"files.zero_bits", "files.one_bits", "files.stored_at", "uploads.state", "uploads.keepers", "uploads.stored_in"}

// heldFrom is where heldColumns come from.
const heldFrom = "files LEFT JOIN uploads ON uploads.id = files.id"

func scanHeld(row pgx.Row) (domain.File, error) {
	var (
		f                 domain.File
		zeroBits, oneBits int64
		state             *string
		keepers, storedIn []string
	)
	err := row.Scan(&f.ID, &f.Name, &f.ContentType, &f.Size, &f.SHA256, &zeroBits, &oneBits, &f.StoredAt,
		&state, &keepers, &storedIn)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, domain.ErrNotFound
	}
	f.ZeroBits, f.OneBits = uint64(zeroBits), uint64(oneBits)
	if state == nil {
		// No record (files copied in by hand): the rule says where it is.
		f.StoredIn = messages.Keepers(f.ZeroBits, f.OneBits)
	} else {
		u := domain.Upload{State: domain.UploadState(*state), StoredIn: toServices(storedIn)}
		u.Keepers = toServices(keepers)
		f.StoredIn = u.Holders()
	}
	return f, err
}

// Files implements query.ReadModel: the totals and the page come from one
// snapshot (a read-only repeatable-read transaction), so they always agree.
// The four statements go in one pipelined batch: one round trip.
func (s *Store) Files(ctx context.Context, after string, limit int) (domain.Totals, []domain.File, error) {
	var (
		totals domain.Totals
		files  []domain.File
	)
	page, args := filesPageSQL(after, limit)
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	b.Queue("SELECT total_size, count FROM totals")
	b.Queue(page, args...)
	b.Queue("COMMIT")
	// A connection left in a failed transaction is closed by the pool.
	results := s.pool.SendBatch(ctx, b)
	err := func() error {
		if _, err := results.Exec(); err != nil {
			return err
		}
		if err := results.QueryRow().Scan(&totals.TotalSize, &totals.Count); err != nil {
			return err
		}
		rows, err := results.Query()
		if err != nil {
			return err
		}
		files, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.File, error) { return scanHeld(row) })
		if err != nil {
			return err
		}
		_, err = results.Exec()
		return err
	}()
	return totals, files, s.classify(ctx, errors.Join(err, results.Close()))
}

// filesPageSQL selects one page of files in id order, after a cursor.
//
// It orders by files.id, qualified: a bare "id" would name the output
// column id::text, and PostgreSQL would sort every remaining row as text
// instead of walking the primary key (measured: 77 ms for the first page
// of 100,000 files, against 2 ms through the index).
func filesPageSQL(after string, limit int) (string, []any) {
	q := psql.Select(heldColumns...).From(heldFrom).OrderBy("files.id").Limit(uint64(limit))
	if after != "" {
		q = q.Where(sq.Gt{"files.id": after})
	}
	return q.MustSql()
}

// File implements query.ReadModel.
func (s *Store) File(ctx context.Context, id string) (domain.File, error) {
	sql, args := psql.Select(heldColumns...).From(heldFrom).Where(sq.Eq{"files.id": id}).MustSql()
	f, err := scanHeld(s.pool.QueryRow(ctx, sql, args...))
	return f, s.classify(ctx, err)
}
