package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/postgres"
)

// TestReplicasHearOfEachOthersCommits: two replicas of a role on one
// database; each hears of the records the other commits (changes and
// deletes), never of its own.
func TestReplicasHearOfEachOthersCommits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, _ := newPool(t, "baumtest_notify_")
	a := postgres.NewStore(pool, postgres.StoreConfig{Instance: "a"})
	b := postgres.NewStore(pool, postgres.StoreConfig{Instance: "b"})
	heardByB := make(chan string, 16)
	// The listening connection is checked after every 50 ms of silence
	// (30 s in production): a check leaves it listening.
	defer postgres.SetListenIdle(50 * time.Millisecond)()
	go postgres.Listen(ctx, pool, "b", func(id string) { heardByB <- id })
	waitListening(t, pool)
	time.Sleep(300 * time.Millisecond)

	byA, byB := uuid.NewString(), uuid.NewString()
	change := func(s *postgres.Store, id string, kept bool) {
		t.Helper()
		if err := s.Update(ctx, id, func(u *domain.Upload, files command.FileIndex) error {
			u.ReceivedBytes = 1
			if kept {
				u.Kept = true
				return files.Add(ctx, domain.File{ID: id, Size: 1, SHA256: strings.Repeat("a", 64), ZeroBits: 8})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	change(b, byB, false)
	change(a, byA, true)
	select {
	case id := <-heardByB:
		if id != byA {
			t.Fatalf("b heard of %s; want only a's %s, not its own", id, byA)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not hear of a's commit")
	}
	if _, deleted, err := a.DeleteFile(ctx, byA); err != nil || !deleted {
		t.Fatalf("delete: %v, %v", deleted, err)
	}
	select {
	case id := <-heardByB:
		if id != byA {
			t.Fatalf("b heard of %s after a's delete of %s", id, byA)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not hear of a's delete")
	}
}

// waitListening waits until a session of the database listens.
func waitListening(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for range 100 {
		var n int
		pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()").Scan(&n)
		if n > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("nobody listens")
}
