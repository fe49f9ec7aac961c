package command_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/app/bits"
	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/messages"
)

func newID(t *testing.T) string {
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func stage(t *testing.T, disk *storage.Disk, id string, data string) {
	t.Helper()
	f, err := disk.OpenStaged(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func exists(t *testing.T, path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestReconcileRepairsWhatACrashLeft(t *testing.T) {
	dir := t.TempDir()
	disk, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	uploads := newMemUploads()
	ctx := t.Context()
	put := func(id string, edit func(u *app.Upload)) {
		uploads.Update(ctx, id, func(u *app.Upload, _ command.FileIndex) error { edit(u); return nil })
	}
	held := func(id string) {
		uploads.Update(ctx, id, func(u *app.Upload, files command.FileIndex) error {
			u.Kept = true
			return files.Add(ctx, app.File{ID: id, Size: 1})
		})
	}
	staged := func(id string) string { return filepath.Join(dir, "staging", id) }
	stored := func(id string) string { return filepath.Join(dir, "files", id[len(id)-2:], id) }

	// Killed between Promote and the commit of the placement: the decision
	// rolled back with it, so the bytes must go back to staging.
	uncommitted := newID(t)
	put(uncommitted, func(u *app.Upload) { u.State, u.Staged = app.Counting, true })
	stage(t, disk, uncommitted, "a")
	disk.Promote(uncommitted)
	// Stored bytes of a failed upload, and of a deleted file.
	failed, deleted := newID(t), newID(t)
	put(failed, func(u *app.Upload) { u.State = app.Failed })
	put(deleted, func(u *app.Upload) { u.State, u.Deleted = app.Placed, true })
	for _, id := range []string{failed, deleted} {
		stage(t, disk, id, "b")
		disk.Promote(id)
	}
	// A held file, and a held file whose Promote did not happen yet.
	fine, unpromoted := newID(t), newID(t)
	held(fine)
	stage(t, disk, fine, "c")
	disk.Promote(fine)
	held(unpromoted)
	stage(t, disk, unpromoted, "d")
	// Staged: unknown, decided elsewhere, still receiving.
	unknown, elsewhere, receiving := newID(t), newID(t), newID(t)
	put(elsewhere, func(u *app.Upload) { u.State, u.Keepers = app.Counting, []messages.Service{messages.Ones} })
	put(receiving, func(u *app.Upload) {})
	for _, id := range []string{unknown, elsewhere, receiving} {
		stage(t, disk, id, "e")
	}
	// Metadata without bytes.
	missing := newID(t)
	held(missing)

	m := command.NewMaintenance(command.Deps{Self: messages.Zeros, Uploads: uploads, Disk: disk,
		Staging: command.NewStaging(disk, bits.Zero), Events: &recordingEvents{}})
	repair, err := m.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := command.Repair{StagedRemoved: 2, StoredRemoved: 2, StoredDemoted: 1, StoredPromoted: 1, Missing: 1}
	if repair != want {
		t.Errorf("repair %+v, want %+v", repair, want)
	}
	checks := []struct {
		path string
		want bool
	}{
		{staged(uncommitted), true}, {stored(uncommitted), false},
		{stored(failed), false}, {stored(deleted), false},
		{stored(fine), true}, {stored(unpromoted), true}, {staged(unpromoted), false},
		{staged(unknown), false}, {staged(elsewhere), false}, {staged(receiving), true},
	}
	for i, c := range checks {
		if exists(t, c.path) != c.want {
			t.Errorf("check %d: %s exists = %v, want %v", i, c.path, !c.want, c.want)
		}
	}
}

func TestPlacingAFileWhoseBytesAreGoneIsPoisonNotRetried(t *testing.T) {
	dir := t.TempDir()
	disk, _ := storage.Open(dir)
	uploads := newMemUploads()
	h := command.NewPlaceFileHandler(command.Deps{Self: messages.Zeros, Uploads: uploads, Disk: disk,
		Staging: command.NewStaging(disk, bits.Zero), Events: &recordingEvents{}})
	id := newID(t)
	sum := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	h.Handle(t.Context(), &messages.BitsCounted{UploadID: id, Service: messages.Ones, Bit: "one", Count: 0, Size: 1, SHA256: sum})
	err := h.Handle(t.Context(), &messages.BitsCounted{UploadID: id, Service: messages.Zeros, Bit: "zero", Count: 8, Size: 1, SHA256: sum})
	if err == nil || errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("error %v: want a permanent error", err)
	}
	if ids, _ := uploads.FileIDs(t.Context()); len(ids) != 0 {
		t.Fatal("metadata committed without bytes")
	}
}
