package command_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// faultyDisk is a real disk with failures injected the way the storage
// adapter reports them (ENOSPC wrapped in domain.ErrStorageFull).
type faultyDisk struct {
	command.Disk
	free       *atomic.Int64 // bytes staged files may still grow by; nil: no limit
	openErr    error
	syncErr    error
	promoteErr *atomic.Pointer[error]
}

func noSpace(op string) error {
	return fmt.Errorf("%w: %s: %w", domain.ErrStorageFull, op, syscall.ENOSPC)
}

func (d faultyDisk) OpenStaged(id string) (command.StagedFile, error) {
	if d.openErr != nil {
		return nil, d.openErr
	}
	f, err := d.Disk.OpenStaged(id)
	if err != nil {
		return nil, err
	}
	return faultyFile{StagedFile: f, d: d}, nil
}

func (d faultyDisk) Promote(ctx context.Context, id string, size int64) error {
	if d.promoteErr != nil {
		if err := d.promoteErr.Load(); err != nil {
			return *err
		}
	}
	return d.Disk.Promote(ctx, id, size)
}

type faultyFile struct {
	command.StagedFile
	d faultyDisk
}

// Write writes what fits, as a filling disk does, then fails.
func (f faultyFile) Write(p []byte) (int, error) {
	if f.d.free == nil {
		return f.StagedFile.Write(p)
	}
	left := f.d.free.Load()
	if int64(len(p)) <= left {
		n, err := f.StagedFile.Write(p)
		f.d.free.Add(-int64(n))
		return n, err
	}
	n, _ := f.StagedFile.Write(p[:left])
	f.d.free.Add(-int64(n))
	return n, noSpace("write")
}

func (f faultyFile) Sync() error {
	if f.d.syncErr != nil {
		return f.d.syncErr
	}
	return f.StagedFile.Sync()
}

// stageAll hands every chunk of data to stage, as the router would.
func stageAll(t *testing.T, stage *command.StageChunkHandler, id string, data []byte) {
	t.Helper()
	for _, c := range chunks(id, data, 16<<10) {
		if err := stage.Handle(context.Background(), c); err != nil {
			t.Fatalf("chunk %d: %v", c.Index, err)
		}
	}
}

func onlyFailure(t *testing.T, events []messages.Message) messages.UploadFailed {
	t.Helper()
	if len(events) != 1 {
		t.Fatalf("published %v, want one UploadFailed", events)
	}
	e, ok := events[0].(messages.UploadFailed)
	if !ok {
		t.Fatalf("published %T, want UploadFailed", events[0])
	}
	return e
}

// The disk fills up while a service stages an upload: the upload fails with
// storage_full, the staged part is removed at once, chunks still arriving
// change nothing, and when the failure comes back as an event (to both
// services) the other service drops its complete staged copy too. Neither
// service stores anything; totals stay at zero.
func TestDiskFullWhileStagingFailsTheUploadCleanly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := bytes.Repeat([]byte{0x0F, 0xF0, 0x00}, 40_000) // 120 KB, 8 chunks
	id := newID()

	full := newFixture(t, messages.Zeros)
	var free atomic.Int64
	free.Store(40_000) // room for two and a half chunks
	fullDeps := full.ports(faultyDisk{Disk: full.disk, free: &free})
	stageFull := fullDeps.stage(t, true)
	stageAll(t, stageFull, id, data)

	failure := onlyFailure(t, full.events.take())
	if failure.UploadID != id || failure.Service != messages.Zeros || failure.Reason != messages.ReasonStorageFull {
		t.Errorf("published %+v, want a storage_full failure by zeros", failure)
	}
	if ids := full.stagedIDs(); len(ids) != 0 {
		t.Errorf("zeros still stages %v", ids)
	}
	if u := full.upload(id); u.StagingError != messages.ReasonStorageFull || u.Staged {
		t.Errorf("upload record %+v", u)
	}

	// The other service had room and staged everything.
	peer := newFixture(t, messages.Ones)
	peerDeps := peer.ports(nil)
	stageAll(t, peerDeps.stage(t, false), id, data)
	counted := peer.events.take()
	if len(counted) != 1 {
		t.Fatalf("ones published %v, want its BitsCounted", counted)
	}

	// Both services read the events partition: ones' count, then the failure.
	for _, f := range []struct {
		fx   *fixture
		deps ports
	}{{full, fullDeps}, {peer, peerDeps}} {
		place := f.deps.place(t)
		if err := place.Handle(ctx, countedBy(messages.Ones, id, data)); err != nil {
			t.Fatal(err)
		}
		if err := f.deps.failure().Handle(ctx, &failure); err != nil {
			t.Fatal(err)
		}
		// Delivered again after a restart: still nothing.
		if err := place.Handle(ctx, countedBy(messages.Ones, id, data)); err != nil {
			t.Fatal(err)
		}
		u := f.fx.upload(id)
		if u.State != domain.Failed || u.FailureReason != messages.ReasonStorageFull {
			t.Errorf("%s: upload %s, %q; want failed for storage_full", f.fx.self, u.State, u.FailureReason)
		}
		if ids := f.fx.stagedIDs(); len(ids) != 0 {
			t.Errorf("%s still stages %v", f.fx.self, ids)
		}
		if stored, _ := f.fx.disk.ListStored(context.Background()); len(stored) != 0 {
			t.Errorf("%s stored %v", f.fx.self, stored)
		}
		if tot := f.fx.totals(); tot != (domain.Totals{}) {
			t.Errorf("%s totals %+v, want none", f.fx.self, tot)
		}
		if events := f.fx.events.take(); len(events) != 0 {
			t.Errorf("%s published %v after the failure", f.fx.self, events)
		}
	}
}

// A disk error other than a full disk (here fsync failing with EIO, as a
// dying disk does) fails the upload as storage_error, the same clean way.
func TestWriteErrorWhileStagingFailsTheUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, messages.Ones)
	deps := f.ports(faultyDisk{Disk: f.disk, syncErr: fmt.Errorf("sync: %w", syscall.EIO)})
	id := newID()
	stageAll(t, deps.stage(t, true), id, bytes.Repeat([]byte{7}, 50_000))
	if e := onlyFailure(t, f.events.take()); e.Reason != messages.ReasonStorageError {
		t.Errorf("reason %q, want storage_error", e.Reason)
	}
	if ids := f.stagedIDs(); len(ids) != 0 {
		t.Errorf("still staged: %v", ids)
	}
}

// No room even to create the staged file.
func TestNoRoomForAStagedFileFailsTheUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, messages.Zeros)
	deps := f.ports(faultyDisk{Disk: f.disk, openErr: noSpace("open")})
	id := newID()
	stageAll(t, deps.stage(t, false), id, []byte("hello"))
	if e := onlyFailure(t, f.events.take()); e.Reason != messages.ReasonStorageFull {
		t.Errorf("reason %q, want storage_full", e.Reason)
	}
	if ids := f.stagedIDs(); len(ids) != 0 {
		t.Errorf("still staged: %v", ids)
	}
}

// Once both counts are known the placement is decided in both services and
// the other keeper may already hold the file, so a keeper that cannot move
// its staged file into storage must not give up: the count fails with
// domain.ErrUnavailable (delivered again, never poisoned), nothing is
// committed, the staged file stays, and once the disk lets it the file is
// stored.
func TestAStoreThatFailsIsRetriedNotLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, messages.Zeros)
	var promoteErr atomic.Pointer[error]
	failing := fmt.Errorf("store: %w", noSpace("rename"))
	promoteErr.Store(&failing)
	deps := f.ports(faultyDisk{Disk: f.disk, promoteErr: &promoteErr})
	id := newID()
	data := bytes.Repeat([]byte{0x00, 0x01}, 10_000)
	stageAll(t, deps.stage(t, false), id, data)
	place := deps.place(t)
	if err := place.Handle(ctx, countedBy(messages.Zeros, id, data)); err != nil {
		t.Fatal(err)
	}
	f.events.take()

	err := place.Handle(ctx, countedBy(messages.Ones, id, data))
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("a failed store returned %v, want an error wrapping domain.ErrUnavailable", err)
	}
	if u := f.upload(id); u.Kept || u.Decided() {
		t.Errorf("committed despite the failed store: %+v", u)
	}
	if tot := f.totals(); tot != (domain.Totals{}) {
		t.Errorf("totals %+v", tot)
	}
	if !f.stagedExists(id) {
		t.Fatal("the staged file is gone")
	}
	if events := f.events.take(); len(events) != 0 {
		t.Errorf("published %v", events)
	}

	promoteErr.Store(nil)
	if err := place.Handle(ctx, countedBy(messages.Ones, id, data)); err != nil {
		t.Fatal(err)
	}
	if got := f.storedBytes(id); !bytes.Equal(got, data) {
		t.Error("stored bytes differ")
	}
	if tot := f.totals(); tot != (domain.Totals{TotalSize: int64(len(data)), Count: 1}) {
		t.Errorf("totals %+v", tot)
	}
}
