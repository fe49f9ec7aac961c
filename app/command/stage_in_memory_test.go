package command_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// fakeLog is one partition of the chunk topic: the chunks delivered, in
// order, at offsets from 100 on.
type fakeLog struct {
	records []*messages.StoreChunk
	at      map[string]domain.ChunkRecord // each upload's first chunk
	reads   int
}

func newFakeLog() *fakeLog { return &fakeLog{at: map[string]domain.ChunkRecord{}} }

// positionKey carries a chunk's place in the log in its handler's context.
type positionKey struct{}

// deliver puts c into the log (once: every service is handed the same
// record) and returns the context its handler gets.
func (l *fakeLog) deliver(c *messages.StoreChunk) context.Context {
	at := -1
	for i, r := range l.records {
		if r.UploadID == c.UploadID && r.Index == c.Index {
			at = i
		}
	}
	if at < 0 {
		l.records, at = append(l.records, c), len(l.records)
	}
	pos := domain.ChunkRecord{Partition: 3, Offset: int64(100 + at)}
	if c.Index == 0 {
		l.at[c.UploadID] = pos
	}
	return context.WithValue(context.Background(), positionKey{}, pos)
}

func (*fakeLog) locate(ctx context.Context) (domain.ChunkRecord, bool) {
	at, ok := ctx.Value(positionKey{}).(domain.ChunkRecord)
	return at, ok
}

// Chunks implements command.ChunkLog.
func (l *fakeLog) Chunks(_ context.Context, from domain.ChunkRecord, id string, each func(*messages.StoreChunk) (bool, error)) error {
	l.reads++
	for i := int(from.Offset - 100); i >= 0 && i < len(l.records); i++ {
		if c := l.records[i]; c.UploadID == id {
			more, err := each(c)
			if err != nil || !more || c.Last {
				return err
			}
		}
	}
	return fmt.Errorf("%w: the log ends before upload %s does", domain.ErrNotStaged, id)
}

// inMemory are one service's handlers with files of one chunk staged in
// memory.
func (f *fixture) inMemory(t *testing.T, log *fakeLog) (*command.StageChunkHandler, *command.PlaceFileHandler, ports) {
	t.Helper()
	p := f.ports(nil)
	stage, err := command.NewStageChunkHandler(command.StageChunkConfig{Self: p.self, Uploads: p.uploads, Staging: p.staging,
		Events: p.events, SyncStaged: true, Locate: log.locate, Chunks: log})
	if err != nil {
		t.Fatal(err)
	}
	place, err := command.NewPlaceFileHandler(command.PlaceFileConfig{Self: p.self, Uploads: p.uploads, Disk: p.disk,
		Staging: p.staging, Chunks: log, Events: p.events})
	if err != nil {
		t.Fatal(err)
	}
	return stage, place, p
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A file of one chunk is staged without touching the disk: the keeper writes
// it straight into storage, the other service never writes it at all.
func TestAFileOfOneChunkIsStagedInMemory(t *testing.T) {
	ctx := context.Background()
	log := newFakeLog()
	zeros, ones := newFixture(t, messages.Zeros), newFixture(t, messages.Ones)
	stageZ, placeZ, _ := zeros.inMemory(t, log)
	stageO, placeO, _ := ones.inMemory(t, log)
	id, data := newID(), bytes.Repeat([]byte{0x01}, 3000) // mostly zero bits: zeros keeps it
	c := chunks(id, data, len(data))[0]
	for _, s := range []*command.StageChunkHandler{stageZ, stageO} {
		if err := s.Handle(log.deliver(c), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []*fixture{zeros, ones} {
		if staged := dirEntries(t, filepath.Join(f.dir, "staging")); len(staged) != 0 {
			t.Fatalf("%s staged %v on disk", f.self, staged)
		}
		if u := f.upload(id); !u.Staged || u.InLog == nil || *u.InLog != log.at[id] {
			t.Fatalf("%s's record: staged %v, in the log at %v; want staged at %v", f.self, u.Staged, u.InLog, log.at[id])
		}
	}
	for _, e := range []*messages.BitsCounted{countedBy(messages.Zeros, id, data), countedBy(messages.Ones, id, data)} {
		for _, p := range []*command.PlaceFileHandler{placeZ, placeO} {
			if err := p.Handle(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := zeros.storedBytes(id); !bytes.Equal(got, data) {
		t.Fatalf("zeros stored %d bytes, want the file's %d", len(got), len(data))
	}
	if !zeros.upload(id).Kept || ones.upload(id).Kept {
		t.Fatal("the keeper is not the one the rule names")
	}
	if stored, err := ones.disk.ListStored(ctx); err != nil || len(stored) != 0 {
		t.Errorf("ones, which does not keep the file, stored %v (%v)", stored, err)
	}
	if log.reads != 0 {
		t.Errorf("the log was read %d times; the bytes were in memory", log.reads)
	}
}

// After a restart the bytes are no longer in memory: the keeper reads the
// chunk back from the log, checks it is the file, and stores it.
func TestAFileStagedInMemoryIsReadBackFromTheLogAfterARestart(t *testing.T) {
	ctx := context.Background()
	log := newFakeLog()
	f := newFixture(t, messages.Zeros)
	stage, _, _ := f.inMemory(t, log)
	id, data := newID(), bytes.Repeat([]byte{0x02}, 5000)
	c := chunks(id, data, len(data))[0]
	if err := stage.Handle(log.deliver(c), c); err != nil {
		t.Fatal(err)
	}
	_, place, _ := f.inMemory(t, log) // the next process: nothing in memory
	for _, e := range []*messages.BitsCounted{countedBy(messages.Ones, id, data), countedBy(messages.Zeros, id, data)} {
		if err := place.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.storedBytes(id); !bytes.Equal(got, data) || log.reads != 1 {
		t.Fatalf("stored %d bytes after %d reads of the log; want the file, read once", len(got), log.reads)
	}

	// A log that answers with other bytes (wrong offset) stores nothing:
	// retrying cannot help, so the count goes to the poison topic.
	other := newID()
	c = chunks(other, data, len(data))[0]
	if err := stage.Handle(log.deliver(c), c); err != nil {
		t.Fatal(err)
	}
	at := log.at[other]
	log.records[at.Offset-100] = chunks(newID(), data, len(data))[0]
	_, place, _ = f.inMemory(t, log)
	place.Handle(ctx, countedBy(messages.Ones, other, data))
	if err := place.Handle(ctx, countedBy(messages.Zeros, other, data)); !errors.Is(err, domain.ErrNotStaged) {
		t.Fatalf("placing a file whose chunk is not in the log: %v, want ErrNotStaged", err)
	}
	if ok, _ := f.disk.StoredExists(ctx, other); ok || f.upload(other).Kept {
		t.Error("a file was stored from the wrong bytes")
	}
}

// A keeper that dies between writing a file staged in memory and
// committing leaves a stored file without metadata: the next start removes
// it (its bytes are in the log), and the redelivered count stores it again.
func TestReconcileRemovesAnUncommittedFileStagedInMemory(t *testing.T) {
	ctx := context.Background()
	log := newFakeLog()
	f := newFixture(t, messages.Zeros)
	stage, place, p := f.inMemory(t, log)
	id, data := newID(), bytes.Repeat([]byte{0x04}, 700)
	c := chunks(id, data, len(data))[0]
	if err := stage.Handle(log.deliver(c), c); err != nil {
		t.Fatal(err)
	}
	if err := place.Handle(ctx, countedBy(messages.Ones, id, data)); err != nil {
		t.Fatal(err)
	}
	// The count that decides arrives; the process dies before the commit.
	crashing, err := command.NewPlaceFileHandler(command.PlaceFileConfig{Self: p.self, Uploads: crashBeforeCommit{f.store},
		Disk: deadDisk{f.disk}, Staging: p.staging, Chunks: log, Events: p.events})
	if err != nil {
		t.Fatal(err)
	}
	if err := crashing.Handle(ctx, countedBy(messages.Zeros, id, data)); !errors.Is(err, errCrash) {
		t.Fatalf("the crashing placement returned %v", err)
	}
	if ok, _ := f.disk.StoredExists(ctx, id); !ok {
		t.Fatal("the test did not reach the crash window: the file should be stored")
	}
	repair, err := f.ports(nil).reconcile().Handle(ctx)
	if err != nil || repair != (command.Repair{StoredRemoved: 1}) {
		t.Fatalf("repair %+v, %v; want the uncommitted stored file removed", repair, err)
	}
	_, place, _ = f.inMemory(t, log)
	if err := place.Handle(ctx, countedBy(messages.Zeros, id, data)); err != nil {
		t.Fatal(err)
	}
	if got := f.storedBytes(id); !bytes.Equal(got, data) || !f.upload(id).Kept {
		t.Fatalf("after the restart: %d bytes stored, kept %v", len(got), f.upload(id).Kept)
	}
}
