package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/postgres"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/migrations"
)

// newStore migrates a database of its own and returns a Store on it, and
// a plain connection to watch it from outside.
func newStore(t *testing.T) (*postgres.Store, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	pool, url := newPool(t, "baumtest_store_")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return postgres.NewStore(pool, postgres.StoreConfig{}), conn
}

// TestUpdateHoldsTheRowLockedAndCommitsAtomically: inside fn the record is
// locked against other writers, what fn does through the file index commits
// with the record, and an error from fn leaves nothing behind. The Update
// pipelines its statements, so this proves the transaction spans them.
func TestUpdateHoldsTheRowLockedAndCommitsAtomically(t *testing.T) {
	ctx := context.Background()
	store, watch := newStore(t)
	id := uuid.NewString()
	// The record exists (committed), so another session could lock it.
	if err := store.Update(ctx, id, func(*domain.Upload, command.FileIndex) error { return nil }); err != nil {
		t.Fatal(err)
	}

	err := store.Update(ctx, id, func(u *domain.Upload, files command.FileIndex) error {
		// Another session cannot lock the record meanwhile.
		_, err := watch.Exec(ctx, "SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE NOWAIT", id)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
			t.Errorf("another session locked the record during Update (error %v)", err)
		}
		// Nor does it see what is not committed yet.
		var n int
		watch.QueryRow(ctx, "SELECT count(*) FROM files").Scan(&n)
		if n != 0 {
			t.Errorf("another session sees %d files before the commit", n)
		}
		u.Describe("a.bin", "text/plain", "test")
		zero, one := uint64(4), uint64(4)
		u.Size, u.SHA256, u.ZeroBits, u.OneBits = 1, strings.Repeat("a", 64), &zero, &one
		return files.Add(ctx, u.File())
	})
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var count, total int64
	if err := watch.QueryRow(ctx, "SELECT name FROM uploads WHERE id = $1", id).Scan(&name); err != nil || name != "a.bin" {
		t.Fatalf("record name %q (%v) after the commit", name, err)
	}
	watch.QueryRow(ctx, "SELECT count, total_size FROM totals").Scan(&count, &total)
	if count != 1 || total != 1 {
		t.Fatalf("totals %d files, %d bytes; want 1, 1", count, total)
	}

	failed := errors.New("changed my mind")
	err = store.Update(ctx, id, func(u *domain.Upload, files command.FileIndex) error {
		u.Name = "b.bin"
		zero, one := uint64(8), uint64(0)
		u.ZeroBits, u.OneBits = &zero, &one
		f := u.File()
		f.ID = uuid.NewString()
		if err := files.Add(ctx, f); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	watch.QueryRow(ctx, "SELECT name FROM uploads WHERE id = $1", id).Scan(&name)
	watch.QueryRow(ctx, "SELECT count, total_size FROM totals").Scan(&count, &total)
	if name != "a.bin" || count != 1 || total != 1 {
		t.Fatalf("after a failed Update: name %q, totals %d/%d; nothing should have changed", name, count, total)
	}
}

// TestConcurrentUpdatesLoseNothing: updates of one record from many
// goroutines serialise on its lock, so no increment is lost.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t)
	id := uuid.NewString()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := store.Update(ctx, id, func(u *domain.Upload, _ command.FileIndex) error {
				u.ReceivedBytes++
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	u, err := store.Get(ctx, id)
	if err != nil || u.ReceivedBytes != 20 {
		t.Fatalf("received bytes %v (%v) after 20 increments", u, err)
	}
}

// TestConcurrentUpdatesShareCommits: Updates that arrive together commit
// together, in far fewer transactions than Updates; one whose function
// fails, or whose changes the database refuses, fails alone.
func TestConcurrentUpdatesShareCommits(t *testing.T) {
	ctx := context.Background()
	store, watch := newStore(t)
	const n = 64
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	errFn := errors.New("this one fails")
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range ids {
		wg.Go(func() {
			<-start
			errs[i] = store.Update(ctx, id, func(u *domain.Upload, files command.FileIndex) error {
				u.Describe(fmt.Sprintf("f%d", i), "", "test")
				switch i {
				case 7:
					return errFn
				case 9: // zero + one bits ≠ 8 × size: the database's CHECK refuses it
					zero, one := uint64(1), uint64(1)
					u.Size, u.SHA256, u.ZeroBits, u.OneBits = 1, strings.Repeat("b", 64), &zero, &one
					return files.Add(ctx, u.File())
				}
				zero, one := uint64(8), uint64(0)
				u.Size, u.SHA256, u.ZeroBits, u.OneBits = 1, strings.Repeat("a", 64), &zero, &one
				return files.Add(ctx, u.File())
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		switch i {
		case 7:
			if !errors.Is(err, errFn) {
				t.Errorf("update 7: %v, want its function's error", err)
			}
		case 9:
			if err == nil {
				t.Error("update 9 broke a CHECK constraint and succeeded")
			}
		default:
			if err != nil {
				t.Errorf("update %d: %v", i, err)
			}
		}
	}
	var files, count, total int64
	watch.QueryRow(ctx, "SELECT count(*) FROM files").Scan(&files)
	watch.QueryRow(ctx, "SELECT count, total_size FROM totals").Scan(&count, &total)
	if files != n-2 || count != n-2 || total != n-2 {
		t.Errorf("%d files, totals %d/%d; want %d each", files, count, total, n-2)
	}
	var named string
	watch.QueryRow(ctx, "SELECT name FROM uploads WHERE id = $1", ids[7]).Scan(&named)
	if named != "" {
		t.Errorf("the failed update's record was saved: name %q", named)
	}
	// A failed transaction is run again one Update at a time: n+1 at most
	// for the CHECK, but the first attempt shared one.
	if tx := postgres.Transactions(store); tx >= 2*n {
		t.Errorf("%d transactions for %d concurrent updates", tx, n)
	}
	t.Logf("%d concurrent updates in %d transactions", n, postgres.Transactions(store))
}

// TestGroupCommitsFewerThanUpdates: with no failure among them, many
// concurrent Updates take far fewer transactions than Updates.
func TestGroupCommitsFewerThanUpdates(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t)
	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			if err := store.Update(ctx, uuid.NewString(), func(u *domain.Upload, _ command.FileIndex) error {
				u.ReceivedBytes = 1
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if tx := postgres.Transactions(store); tx > n/4 {
		t.Errorf("%d transactions for %d concurrent updates; want them grouped", tx, n)
	} else {
		t.Logf("%d concurrent updates in %d transactions", n, tx)
	}
}

// TestStalledFindsOnlyUploadsThatStoppedReceiving: the sweep's query sees
// the uploads still receiving whose record has not changed for the age,
// and no other.
func TestStalledFindsOnlyUploadsThatStoppedReceiving(t *testing.T) {
	ctx := context.Background()
	store, watch := newStore(t)
	stalled, recent, counting := uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, id := range []string{stalled, recent, counting} {
		if err := store.Update(ctx, id, func(u *domain.Upload, _ command.FileIndex) error {
			u.ReceivedBytes = 1
			if id == counting {
				u.FinishStaging(1, strings.Repeat("a", 64), 4)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := watch.Exec(ctx, "UPDATE uploads SET updated_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])",
		[]string{stalled, counting}); err != nil {
		t.Fatal(err)
	}
	ids, err := store.Stalled(ctx, 3600)
	if err != nil || len(ids) != 1 || ids[0] != stalled {
		t.Fatalf("stalled %v (%v), want only %s", ids, err, stalled)
	}
}

// newPool migrates a database of its own (its name starts with prefix) and
// returns a pool on it and its URL.
func newPool(t *testing.T, prefix string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	prefix += strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	url := strings.Replace(testsystem.PostgresURL(), "/?", "/"+prefix+"_zeros?", 1)
	t.Cleanup(func() { testsystem.DropDatabases(t, prefix) })
	if err := postgres.EnsureDatabase(ctx, url); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Open(postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool, migrations.FS); err != nil {
		t.Fatal(err)
	}
	return pool, url
}
