package postgres_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/infra/postgres"
	"github.com/baum-store/baum/internal/memstore"
	"github.com/baum-store/baum/messages"
)

// TestEveryListingOrderWalksItsIndex: a page of GET /data is read through
// the index of its sort key, forwards or backwards, whatever the cursor,
// never by sorting the table, and each of its files looks up its upload
// record: the rows a page reads are about the page's, however many files
// are held and wherever the page is, in any order.
func TestEveryListingOrderWalksItsIndex(t *testing.T) {
	ctx := context.Background()
	store, conn := newStore(t)
	for _, sql := range []string{
		`INSERT INTO files SELECT gen_random_uuid(), 'f' || i, 'text/plain', i % 1000, repeat('a', 64), 8 * (i % 1000), 0,
			now() - i * interval '1 second' FROM generate_series(1, 20000) i`,
		`INSERT INTO uploads (id, state, keepers, stored_in) SELECT id, 'placed', '{zeros}', '{zeros}' FROM files`,
		`UPDATE totals SET count = 20000, total_size = (SELECT sum(size) FROM files)`,
		"ANALYZE files", "ANALYZE uploads",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	index := map[query.SortKey]string{query.SortID: "files_pkey", query.SortStoredAt: "files_stored_at_idx",
		query.SortSize: "files_size_idx", query.SortName: "files_name_idx"}
	middle := query.FileKey{ID: "80000000-0000-0000-0000-000000000000", StoredAt: time.Now().Add(-time.Hour), Size: 500, Name: "f5"}
	plans := 0
	for _, key := range query.SortKeys() {
		for _, desc := range []bool{false, true} {
			for _, after := range []*query.FileKey{nil, &middle} {
				for _, filter := range []query.FileFilter{{}, {Prefix: "f1"}} {
					q := query.FilesQuery{Order: query.FileOrder{Key: key, Desc: desc}, After: after, Filter: filter, Limit: 101}
					plan, read := explain(t, conn, q)
					plans++
					// A filter the sort's index does not serve makes the
					// walk longer by the files it skips (those seeded
					// here lie in long runs); a prefix of names is a range
					// of the name index.
					bounded := filter.Prefix == "" || key == query.SortName
					if !strings.Contains(plan, "using "+index[key]) || strings.Contains(plan, "Sort") ||
						!strings.Contains(plan, "Nested Loop Left Join") || bounded && read > 10*q.Limit {
						t.Errorf("sort %s desc %v after %v filter %+v reads %d rows for a page of %d:\n%s\nwant a walk of %s, no sort, a lookup per file",
							key, desc, after != nil, filter, read, q.Limit, plan, index[key])
					}
				}
			}
		}
	}
	if plans != 32 {
		t.Errorf("%d plans checked", plans)
	}
	// And the page and totals agree with what is held.
	totals, files, err := store.Files(ctx, query.FilesQuery{Limit: 100})
	if err != nil || totals.Count != 20000 || len(files) != 100 {
		t.Fatalf("Files: %+v, %d files, %v", totals, len(files), err)
	}
	next, more, err := store.Files(ctx, query.FilesQuery{Limit: 100, After: &query.FileKey{ID: files[99].ID}})
	if err != nil || next.Count != 20000 || len(more) != 100 || more[0].ID <= files[99].ID {
		t.Fatalf("second page: %d files starting at %v, %v", len(more), more, err)
	}
}

// explain runs the page query under EXPLAIN ANALYZE and returns its plan
// and the rows its nodes produced and filtered out, over all their loops.
func explain(t *testing.T, conn *pgx.Conn, q query.FilesQuery) (string, int) {
	t.Helper()
	sql, args := postgres.FilesPageSQL(q)
	rows, err := conn.Query(context.Background(), "EXPLAIN (ANALYZE, TIMING OFF) "+sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	read, loops := 0.0, 1.0
	for _, line := range lines {
		if m := actualRows.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseFloat(m[1], 64)
			loops, _ = strconv.ParseFloat(m[2], 64)
			read += n * loops
		} else if m := removedRows.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseFloat(m[1], 64)
			read += n * loops
		}
	}
	return strings.Join(lines, "\n"), int(read)
}

var (
	actualRows  = regexp.MustCompile(`actual rows=([\d.]+) loops=(\d+)`)
	removedRows = regexp.MustCompile(`Rows Removed by Filter: ([\d.]+)`)
)

// TestListingsFilterSortAndPageAsTheMemoryStoreDoes: the same files, in
// PostgreSQL and in the in-memory store the use-case tests run on, listed
// with every sort and order and a range of filters, page by page: both give
// the same files in the same order, each once, and exactly those the
// filter lets through.
func TestListingsFilterSortAndPageAsTheMemoryStoreDoes(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t)
	mem := memstore.New()
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	names := []string{"a.txt", "a.txt", "B.png", "b.png", "report-2026.pdf", "report-2025.pdf", "Zürich.jpg", "zz", "\U0010FFFF", "", "rep", "photo_1.png"}
	types := []string{"text/plain; charset=utf-8", "image/png", "image/PNG", "application/pdf", "application/octet-stream", "image/jpeg", "text/plain"}
	var all []domain.File
	for i := range 60 {
		size := int64(i % 9 * 100)
		f := domain.File{ID: uuid.Must(uuid.NewV7()).String(), Name: names[i%len(names)], ContentType: types[i%len(types)],
			Size: size, SHA256: strings.Repeat("a", 64), ZeroBits: 8 * uint64(size),
			StoredAt: base.Add(time.Duration(i%13) * time.Minute)}
		all = append(all, f)
		for _, s := range []command.Uploads{store, mem} {
			if err := s.Update(ctx, f.ID, func(u *domain.Upload, files command.FileIndex) error {
				u.State, u.StoredIn = domain.Placed, []messages.Service{messages.Zeros}
				return files.Add(ctx, f)
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	size := func(n int64) *int64 { return &n }
	filters := []query.FileFilter{
		{},
		{Prefix: "report-"},
		{Prefix: "a.txt"},
		{Prefix: "Z"},
		{Prefix: "\U0010FFFF"},
		{ContentType: "image/png"},
		{ContentType: "IMAGE/*"},
		{ContentType: "text/plain"},
		{MinSize: size(300), MaxSize: size(500)},
		{MaxSize: size(0)},
		{StoredSince: base.Add(3 * time.Minute), StoredBefore: base.Add(7 * time.Minute)},
		{Prefix: "b", ContentType: "image/*", MinSize: size(100)},
	}
	for _, filter := range filters {
		for _, key := range query.SortKeys() {
			for _, desc := range []bool{false, true} {
				order := query.FileOrder{Key: key, Desc: desc}
				got := listAll(t, store, filter, order)
				want := listAll(t, mem, filter, order)
				if !slices.Equal(ids(got), ids(want)) {
					t.Errorf("filter %+v, sort %s desc %v:\nPostgreSQL %v\nin memory  %v", filter, key, desc, describe(got), describe(want))
				}
				var match []string
				for _, f := range all {
					if filter.Matches(f) {
						match = append(match, f.ID)
					}
				}
				if !slices.Equal(slices.Sorted(slices.Values(ids(got))), slices.Sorted(slices.Values(match))) {
					t.Errorf("filter %+v, sort %s: listed %d files, %d match", filter, key, len(got), len(match))
				}
			}
		}
	}
}

// listAll pages through a listing 7 files at a time.
func listAll(t *testing.T, read query.ReadModel, filter query.FileFilter, order query.FileOrder) []domain.File {
	t.Helper()
	list := query.NewListFilesHandler(read)
	var out []domain.File
	after := ""
	for range 100 {
		page, err := list.Handle(context.Background(), query.ListFiles{Limit: 7, After: after, Filter: filter, Order: order})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Files...)
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
	t.Fatal("more than 100 pages")
	return nil
}

func ids(files []domain.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.ID
	}
	return out
}

func describe(files []domain.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = fmt.Sprintf("%s/%q/%d/%s", f.ID[len(f.ID)-4:], f.Name, f.Size, f.StoredAt.UTC().Format("15:04"))
	}
	return out
}
