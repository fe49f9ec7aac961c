package command_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/bits"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/internal/memstore"
	"github.com/baum-store/baum/messages"
)

// recorder is an EventPublisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []messages.Message
}

func (r *recorder) Publish(_ context.Context, event any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event.(messages.Message))
	return nil
}

// take returns what was published since the last take.
func (r *recorder) take() []messages.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// fixture is one service's use cases on an in-memory store (the fake of the
// PostgreSQL adapter, which has tests of its own) and a real disk (a
// temporary directory).
type fixture struct {
	t      *testing.T
	self   messages.Service
	store  *memstore.Store
	disk   *storage.Disk
	dir    string
	events *recorder
}

func newFixture(t *testing.T, self messages.Service) *fixture {
	t.Helper()
	dir := t.TempDir()
	disk, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, self: self, store: memstore.New(), disk: disk, dir: dir, events: &recorder{}}
}

// ports are one service's adapters in a test; each use case is built from
// the ones it uses, as service.NewApplication builds it.
type ports struct {
	self    messages.Service
	uploads command.Uploads
	disk    command.Disk
	staging *command.Staging
	events  command.EventPublisher
}

// ports returns the fixture's adapters, with disk in place of the real one
// (nil: the real one).
func (f *fixture) ports(disk command.Disk) ports {
	if disk == nil {
		disk = f.disk
	}
	return ports{self: f.self, uploads: f.store, disk: disk, staging: command.NewStaging(disk, domain.BitKind(f.self)), events: f.events}
}

func (p ports) stage(t testing.TB, syncStaged bool) *command.StageChunkHandler {
	t.Helper()
	h, err := command.NewStageChunkHandler(command.StageChunkConfig{Self: p.self, Uploads: p.uploads, Staging: p.staging,
		Events: p.events, SyncStaged: syncStaged})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (p ports) place(t testing.TB) *command.PlaceFileHandler {
	t.Helper()
	h, err := command.NewPlaceFileHandler(command.PlaceFileConfig{Self: p.self, Uploads: p.uploads, Disk: p.disk,
		Staging: p.staging, Events: p.events})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (p ports) failure() *command.RecordFailureHandler {
	return command.NewRecordFailureHandler(p.uploads, p.staging, nil, nil)
}

func (p ports) stored() command.RecordStoredHandler {
	return command.NewRecordStoredHandler(p.self, p.uploads)
}

func (p ports) reconcile() command.ReconcileHandler {
	return command.NewReconcileHandler(p.self, p.uploads, p.disk, 0, nil)
}

// countedBy returns the BitsCounted that service s publishes for data.
func countedBy(s messages.Service, id string, data []byte) *messages.BitsCounted {
	var ones uint64
	for _, b := range data {
		ones += uint64(bits.OnesCount8(b))
	}
	sum := sha256.Sum256(data)
	e := &messages.BitsCounted{UploadID: id, Service: s, Bit: domain.BitKind(s).String(), Count: ones,
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	if s == messages.Zeros {
		e.Count = 8*uint64(len(data)) - ones
	}
	return e
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func (f *fixture) stagedIDs() []string {
	f.t.Helper()
	ids, err := f.disk.ListStaged()
	if err != nil {
		f.t.Fatal(err)
	}
	return ids
}

func (f *fixture) storedBytes(id string) []byte {
	f.t.Helper()
	path, err := f.disk.StoredPath(id)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatalf("stored file %s: %v", id, err)
	}
	return b
}

func (f *fixture) stagedExists(id string) bool {
	_, err := os.Stat(filepath.Join(f.dir, "staging", id))
	return err == nil
}

func (f *fixture) totals() domain.Totals {
	f.t.Helper()
	tot, err := f.store.Totals(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return tot
}

func (f *fixture) upload(id string) *domain.Upload {
	f.t.Helper()
	u, err := f.store.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// errCrash stands for the process dying at that point: nothing after it runs.
var errCrash = errors.New("the process died here")

// crashBeforeCommit runs each update's function, then dies before the
// transaction commits: whatever the function did on disk stays, nothing it
// did in the database does.
type crashBeforeCommit struct{ command.Uploads }

func (c crashBeforeCommit) Update(ctx context.Context, id string, fn func(*domain.Upload, command.FileIndex) error) error {
	return c.Uploads.Update(ctx, id, func(u *domain.Upload, files command.FileIndex) error {
		if err := fn(u, files); err != nil {
			return err
		}
		return errCrash
	})
}

// deadDisk is a disk whose process died: it undoes nothing.
type deadDisk struct{ command.Disk }

func (deadDisk) RemoveStaged(string) error                  { return errCrash }
func (deadDisk) RemoveStored(context.Context, string) error { return errCrash }
