package storage_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/storage"
)

func stage(t *testing.T, d *storage.Disk, id, data string) {
	t.Helper()
	f, err := d.OpenStaged(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
}

// A promotion alone flushes the directory it links the file into; a staged
// file alone is flushed by itself.
func TestASyncAloneFlushesItsOwnFiles(t *testing.T) {
	d, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	f, err := d.OpenStaged(id)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("abc"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n := d.Syncs(); n != 1 {
		t.Errorf("%d sync calls for one staged file, want 1", n)
	}
	if err := d.Promote(context.Background(), id, -1); err != nil {
		t.Fatal(err)
	}
	if n := d.Syncs(); n != 2 {
		t.Errorf("%d sync calls after one promotion, want 1 + its directory", n)
	}
	staged, _ := d.ListStaged()
	if len(staged) != 1 {
		t.Errorf("staged %v after the promotion; the staged name stays until RemoveStaged", staged)
	}
	path, _ := d.StoredPath(id)
	if b, err := os.ReadFile(path); err != nil || string(b) != "abc" {
		t.Fatalf("stored %q, %v", b, err)
	}
	if err := d.Promote(context.Background(), id, -1); err != nil {
		t.Errorf("promoting a stored file again: %v", err)
	}
	if err := d.Promote(context.Background(), uuid.NewString(), -1); !errors.Is(err, domain.ErrNotStaged) {
		t.Errorf("promoting what was never staged: %v, want ErrNotStaged", err)
	}
}

// Handlers that flush at the same time share flushes: far fewer system
// calls than flushes asked for, and every one of them durable.
func TestConcurrentSyncsShareFlushes(t *testing.T) {
	d, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
		stage(t, d, ids[i], "x")
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, id := range ids {
		wg.Go(func() {
			<-start
			f, err := d.OpenStaged(id)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			if err := f.Sync(); err != nil {
				t.Error(err)
			}
			if err := d.Promote(context.Background(), id, -1); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if calls := d.Syncs(); calls >= n {
		t.Errorf("%d sync calls for %d files flushed and promoted at once; want them shared", calls, n)
	} else {
		t.Logf("%d staged files flushed and promoted with %d sync calls", n, calls)
	}
	stored, _ := d.ListStored(context.Background())
	if len(stored) != n {
		t.Errorf("%d files stored, want %d", len(stored), n)
	}
}
