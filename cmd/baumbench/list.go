package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
)

// runList seeds files into zeros' read model and times GET /data.
func (b *bench) runList(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, dbURL(b.postgres, b.prefix+"_zeros"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	files, seed, err := b.seedFiles(ctx, conn)
	if err != nil {
		return fmt.Errorf("seed files: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE files, uploads"); err != nil {
		return err
	}
	var held int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM files").Scan(&held); err != nil {
		return err
	}
	part := fmt.Sprintf("GET /data, %d files held", held)
	b.add(part, fmt.Sprintf("seeding %d rows (COPY into files, uploads + totals, one transaction)", b.files), []float64{seed.Seconds()}, secs,
		"real uploads would take far longer; the read model is what GET /data reads")
	if err := b.timePages(ctx, part, files, held); err != nil {
		return err
	}
	return b.timeContrast(ctx, part, conn, held)
}

// seedFiles copies b.files rows into zeros' files table, their upload
// records and the totals, in one transaction, and returns the files in id
// order. Every tenth is an image/png; names are seed-<n>.bin; each is
// stored a millisecond after the one before.
func (b *bench) seedFiles(ctx context.Context, conn *pgx.Conn) ([]domain.File, time.Duration, error) {
	b.logf("seeding %d files into zeros' files and uploads tables (COPY)", b.files)
	files := make([]domain.File, b.files)
	start := time.Now().UTC().Add(-time.Duration(b.files) * time.Millisecond).Truncate(time.Microsecond)
	sum := make([]byte, 32)
	for i := range files {
		ctype := "application/octet-stream"
		if i%10 == 0 {
			ctype = "image/png"
		}
		rand.Read(sum)
		size := int64(smallSizes[i%len(smallSizes)])
		files[i] = domain.File{ID: uuid.Must(uuid.NewV7()).String(), Name: "seed-" + strconv.Itoa(i) + ".bin", ContentType: ctype,
			Size: size, SHA256: hex.EncodeToString(sum), ZeroBits: 4 * uint64(size), OneBits: 4 * uint64(size),
			StoredAt: start.Add(time.Duration(i) * time.Millisecond)}
	}
	t0 := time.Now()
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var added int64
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"files"},
			[]string{"id", "name", "content_type", "size", "sha256", "zero_bits", "one_bits", "stored_at"},
			pgx.CopyFromSlice(len(files), func(i int) ([]any, error) {
				f := files[i]
				added += f.Size
				return []any{f.ID, f.Name, f.ContentType, f.Size, f.SHA256, int64(f.ZeroBits), int64(f.OneBits), f.StoredAt}, nil
			}))
		if err == nil && n != int64(len(files)) {
			err = fmt.Errorf("copied %d rows of %d", n, len(files))
		}
		if err != nil {
			return err
		}
		// Where a file is held comes from its upload's record (a join).
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"uploads"}, []string{"id", "state", "keepers", "stored_in", "kept"},
			pgx.CopyFromSlice(len(files), func(i int) ([]any, error) {
				return []any{files[i].ID, "placed", []string{"zeros"}, []string{"zeros"}, true}, nil
			})); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE totals SET total_size = total_size + $1, count = count + $2", added, n)
		return err
	})
	slices.SortFunc(files, func(a, b domain.File) int { return strings.Compare(a.ID, b.ID) })
	return files, time.Since(t0), err
}

// timePages times GET /data at the first, a middle and the last page, and
// filtered and sorted pages.
func (b *bench) timePages(ctx context.Context, part string, files []domain.File, held int64) error {
	const n = 200
	byName := slices.SortedFunc(slices.Values(files), func(a, b domain.File) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	nameCursor := url.QueryEscape(query.Cursor(query.FileOrder{Key: query.SortName}, byName[len(byName)/2]))
	for _, q := range []struct{ figure, query string }{
		{"first page, ?limit=100", "?limit=100"},
		{"middle page, ?limit=100&after=<id in the middle>", "?limit=100&after=" + files[len(files)/2].ID},
		{"last page, ?limit=100&after=<id near the end>", "?limit=100&after=" + files[len(files)-50].ID},
		{"first page, ?limit=1000", "?limit=1000"},
		{"sorted: first page, ?limit=100&sort=size&order=desc", "?limit=100&sort=size&order=desc"},
		{"sorted: middle page, ?limit=100&sort=name&after=<cursor in the middle>", "?limit=100&sort=name&after=" + nameCursor},
		{"filtered: first page, ?limit=100&prefix=seed-5 (1 file in 9 matches)", "?limit=100&prefix=seed-5"},
		{"filtered and sorted: ?limit=100&content_type=image/png&sort=stored_at&order=desc (1 in 10)",
			"?limit=100&content_type=image/png&sort=stored_at&order=desc"},
	} {
		b.logf("GET /data%s ×%d", q.query, n)
		lat, page, err := getList(ctx, b.urls["zeros"], q.query, n)
		if err != nil {
			return err
		}
		if page.Count != held || len(page.List) == 0 {
			return fmt.Errorf("GET /data%s: count %d with %d files listed; %d held", q.query, page.Count, len(page.List), held)
		}
		b.addText(part, q.figure, fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", ms(percentile(lat, 50)), ms(percentile(lat, 99))),
			fmt.Sprintf("n=%d", len(lat)), fmt.Sprintf("%d files in the page; totals read from the running total", len(page.List)))
	}
	return nil
}

// timeContrast times, on the same database, what the API avoids: an OFFSET
// page and summing the table.
func (b *bench) timeContrast(ctx context.Context, part string, conn *pgx.Conn, held int64) error {
	var offsetLat, sumLat []time.Duration
	for range 20 {
		t0 := time.Now()
		rows, err := conn.Query(ctx, "SELECT id FROM files ORDER BY id OFFSET $1 LIMIT 100", held/2)
		if err != nil {
			return err
		}
		rows.Close()
		offsetLat = append(offsetLat, time.Since(t0))
		t0 = time.Now()
		var c, s int64
		if err := conn.QueryRow(ctx, "SELECT count(*), coalesce(sum(size), 0) FROM files").Scan(&c, &s); err != nil {
			return err
		}
		sumLat = append(sumLat, time.Since(t0))
	}
	b.addText(part, "for contrast (SQL only): an OFFSET page in the middle", fmt.Sprintf("p50 %.2f ms", ms(percentile(offsetLat, 50))),
		fmt.Sprintf("n=%d", len(offsetLat)), "what keyset pagination avoids; grows with the offset")
	b.addText(part, "for contrast (SQL only): count(*) + sum(size) over files", fmt.Sprintf("p50 %.2f ms", ms(percentile(sumLat, 50))),
		fmt.Sprintf("n=%d", len(sumLat)), "what the running total avoids; grows with the files held")
	return nil
}
