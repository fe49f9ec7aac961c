package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// runList seeds files into zeros' read model and times GET /data.
func (b *bench) runList(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, dbURL(b.postgres, b.prefix+"_zeros"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	ids, seed, err := b.seedFiles(ctx, conn)
	if err != nil {
		return fmt.Errorf("seed files: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE files"); err != nil {
		return err
	}
	var held int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM files").Scan(&held); err != nil {
		return err
	}
	part := fmt.Sprintf("GET /data, %d files held", held)
	b.add(part, fmt.Sprintf("seeding %d rows (COPY into files + totals, one transaction)", b.files), []float64{seed.Seconds()}, secs,
		"real uploads would take far longer; the read model is what GET /data reads")
	if err := b.timePages(ctx, part, ids, held); err != nil {
		return err
	}
	return b.timeContrast(ctx, part, conn, held)
}

// seedFiles copies b.files rows into zeros' files table and its totals, in
// one transaction, and returns their ids.
func (b *bench) seedFiles(ctx context.Context, conn *pgx.Conn) ([]string, time.Duration, error) {
	b.logf("seeding %d files into zeros' files table (COPY)", b.files)
	ids := make([]string, b.files)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	sum := make([]byte, 32)
	t0 := time.Now()
	var added int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		now := time.Now().UTC()
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"files"},
			[]string{"id", "name", "content_type", "size", "sha256", "zero_bits", "one_bits", "stored_at"},
			pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) {
				size := int64(smallSizes[i%len(smallSizes)])
				rand.Read(sum)
				added += size
				return []any{ids[i], "seed-" + strconv.Itoa(i) + ".bin", "application/octet-stream", size,
					hex.EncodeToString(sum), 4 * size, 4 * size, now}, nil
			}))
		if err != nil {
			return err
		}
		if n != int64(len(ids)) {
			return fmt.Errorf("copied %d rows of %d", n, len(ids))
		}
		_, err = tx.Exec(ctx, "UPDATE totals SET total_size = total_size + $1, count = count + $2", added, n)
		return err
	})
	slices.Sort(ids)
	return ids, time.Since(t0), err
}

// timePages times GET /data at the first, a middle and the last page.
func (b *bench) timePages(ctx context.Context, part string, ids []string, held int64) error {
	const n = 200
	for _, q := range []struct{ figure, query string }{
		{"first page, ?limit=100", "?limit=100"},
		{"middle page, ?limit=100&after=<id in the middle>", "?limit=100&after=" + ids[len(ids)/2]},
		{"last page, ?limit=100&after=<id near the end>", "?limit=100&after=" + ids[len(ids)-50]},
		{"first page, ?limit=1000", "?limit=1000"},
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
