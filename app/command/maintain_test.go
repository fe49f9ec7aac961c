package command_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// A keeper that dies between moving the file into storage and committing the
// placement leaves a stored file without metadata, and an upload record
// without the decision (it was in the same transaction). The next start must
// move the file back to staging so that the redelivered count stores it.
// Reconcile used to take such a file for an orphan (the record named no
// keepers) and delete it: the file was lost in every service that was to
// keep it, and the redelivered count failed forever, blocking its partition.
func TestReconcileKeepsAFileWhosePlacementDidNotCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, messages.Zeros)
	id := newID()
	data := bytes.Repeat([]byte{0x01, 0x00, 0x80}, 20_000) // mostly zero bits: zeros keeps it

	deps := f.ports(nil)
	stage := deps.stage(t, true)
	for _, c := range chunks(id, data, 16<<10) {
		if err := stage.Handle(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	place := deps.place(t)
	if err := place.Handle(ctx, countedBy(messages.Zeros, id, data)); err != nil {
		t.Fatal(err)
	}
	f.events.take()

	// The count that decides arrives; the process dies before the commit.
	crashing := deps
	crashing.uploads, crashing.disk = crashBeforeCommit{f.store}, deadDisk{f.disk}
	if err := crashing.place(t).Handle(ctx, countedBy(messages.Ones, id, data)); !errors.Is(err, errCrash) {
		t.Fatalf("the crashing placement returned %v", err)
	}
	if ok, _ := f.disk.StoredExists(ctx, id); !ok || !f.stagedExists(id) {
		t.Fatal("the test did not reach the crash window: the file should be stored, and still staged")
	}
	if u := f.upload(id); u.Decided() || u.Kept {
		t.Fatalf("the decision should not have committed: %+v", u)
	}

	// The next start.
	restarted := f.ports(nil)
	repair, err := restarted.reconcile().Handle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if repair != (command.Repair{StoredRemoved: 1}) {
		t.Errorf("repair %+v, want the uncommitted stored copy removed, the staged one kept", repair)
	}
	if !f.stagedExists(id) {
		t.Fatal("the file is gone from staging and storage: lost")
	}

	// The uncommitted count is delivered again.
	if err := restarted.place(t).Handle(ctx, countedBy(messages.Ones, id, data)); err != nil {
		t.Fatalf("redelivered count: %v", err)
	}
	if got := f.storedBytes(id); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want the %d uploaded", len(got), len(data))
	}
	if tot := f.totals(); tot != (domain.Totals{TotalSize: int64(len(data)), Count: 1}) {
		t.Errorf("totals %+v", tot)
	}
	if u := f.upload(id); !u.Kept || !u.Keeps(messages.Zeros) {
		t.Errorf("upload %+v not kept", u)
	}
	var stored bool
	for _, e := range f.events.take() {
		if fs, ok := e.(messages.FileStored); ok && fs.FileID == id && fs.Service == messages.Zeros {
			stored = true
		}
	}
	if !stored {
		t.Error("no FileStored published")
	}
	if f.stagedExists(id) {
		t.Error("the file is still staged too")
	}
}

// What Reconcile removes it must remove: staged copies nobody needs and
// stored files of deleted or failed uploads; and what it keeps it must keep.
func TestReconcileRemovesOnlyWhatNobodyNeeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, messages.Ones)
	deps := f.ports(nil)
	stage := deps.stage(t, false)
	place := deps.place(t)
	failure := deps.failure()

	stageAll := func(id string, data []byte) {
		for _, c := range chunks(id, data, 1000) {
			if err := stage.Handle(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	zeroish := bytes.Repeat([]byte{0x01}, 3000)
	oneish := bytes.Repeat([]byte{0xFE}, 3000)

	// Still receiving: its staged part is needed.
	receiving := newID()
	if err := stage.Handle(ctx, chunks(receiving, oneish, 1000)[0]); err != nil {
		t.Fatal(err)
	}
	// Staged and counted, waiting for the other count: needed.
	waiting := newID()
	stageAll(waiting, oneish)
	// Decided for zeros only: ones' staged copy is not needed; put it back as
	// if the process died before dropping it.
	elsewhere := newID()
	stageAll(elsewhere, zeroish)
	if err := place.Handle(ctx, countedBy(messages.Ones, elsewhere, zeroish)); err != nil {
		t.Fatal(err)
	}
	if err := place.Handle(ctx, countedBy(messages.Zeros, elsewhere, zeroish)); err != nil {
		t.Fatal(err)
	}
	writeStaged(t, f, elsewhere, zeroish)
	// Failed: not needed.
	failed := newID()
	stageAll(failed, oneish)
	if err := failure.Handle(ctx, &messages.UploadFailed{UploadID: failed, Service: messages.Zeros, Reason: messages.ReasonStorageFull, Detail: "test"}); err != nil {
		t.Fatal(err)
	}
	writeStaged(t, f, failed, oneish)
	// Held: stays stored.
	held := newID()
	stageAll(held, oneish)
	for _, s := range messages.Services() {
		if err := place.Handle(ctx, countedBy(s, held, oneish)); err != nil {
			t.Fatal(err)
		}
	}

	repair, err := deps.reconcile().Handle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if repair != (command.Repair{StagedRemoved: 2}) {
		t.Errorf("repair %+v, want the two unneeded staged files removed", repair)
	}
	for id, want := range map[string]bool{receiving: true, waiting: true, elsewhere: false, failed: false, held: false} {
		if got := f.stagedExists(id); got != want {
			t.Errorf("staged %s: %v, want %v", id, got, want)
		}
	}
	if got := f.storedBytes(held); !bytes.Equal(got, oneish) {
		t.Error("the held file changed")
	}
}

func writeStaged(t *testing.T, f *fixture, id string, data []byte) {
	t.Helper()
	sf, err := f.disk.OpenStaged(id)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if _, err := sf.Write(data); err != nil {
		t.Fatal(err)
	}
}

// If a keeper's staged copy is gone when the placement is decided (lost to
// a bug or by hand), retrying cannot bring it back: the count must fail for
// good, so that the poison queue takes it and the other uploads of its
// partition move on, instead of being retried forever as a passing failure.
// Nothing is committed.
func TestPlacingAFileWhoseStagedCopyIsGoneFailsForGood(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, messages.Zeros)
	deps := f.ports(nil)
	id := newID()
	data := bytes.Repeat([]byte{0x10}, 5000)
	stageAll(t, deps.stage(t, false), id, data)
	place := deps.place(t)
	if err := place.Handle(ctx, countedBy(messages.Zeros, id, data)); err != nil {
		t.Fatal(err)
	}
	if err := f.disk.RemoveStaged(id); err != nil {
		t.Fatal(err)
	}
	err := place.Handle(ctx, countedBy(messages.Ones, id, data))
	if err == nil || errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("placing a file that is gone returned %v, want a lasting failure", err)
	}
	if u := f.upload(id); u.Kept || u.Decided() {
		t.Errorf("committed: %+v", u)
	}
	if tot := f.totals(); tot != (domain.Totals{}) {
		t.Errorf("totals %+v", tot)
	}
}
