package command_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/internal/memstore"
	"github.com/baum-store/baum/messages"
)

func stageBytes(t *testing.T, disk *storage.Disk, id string, data string) {
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

func fileExists(t *testing.T, path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestReconcileRepairsWhatACrashLeft(t *testing.T) {
	dir := t.TempDir()
	disk, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	uploads := memstore.New()
	ctx := t.Context()
	put := func(id string, edit func(u *domain.Upload)) {
		uploads.Update(ctx, id, func(u *domain.Upload, _ command.FileIndex) error { edit(u); return nil })
	}
	held := func(id string) {
		uploads.Update(ctx, id, func(u *domain.Upload, files command.FileIndex) error {
			u.Kept = true
			return files.Add(ctx, domain.File{ID: id, Size: 1})
		})
	}
	staged := func(id string) string { return filepath.Join(dir, "staging", id) }
	stored := func(id string) string { return filepath.Join(dir, "files", id[len(id)-2:], id) }

	// Killed between Promote and the commit of the placement: the decision
	// rolled back with it, so the stored copy goes and the staged one stays.
	uncommitted := newID()
	put(uncommitted, func(u *domain.Upload) { u.State, u.Staged = domain.Counting, true })
	stageBytes(t, disk, uncommitted, "a")
	disk.Promote(ctx, uncommitted, -1)
	// Stored bytes of a failed upload, and of a deleted file.
	failed, deleted := newID(), newID()
	put(failed, func(u *domain.Upload) { u.State = domain.Failed })
	put(deleted, func(u *domain.Upload) { u.State, u.Deleted = domain.Placed, true })
	for _, id := range []string{failed, deleted} {
		stageBytes(t, disk, id, "b")
		disk.Promote(ctx, id, -1)
	}
	// A held file, and a held file whose Promote did not happen yet.
	fine, unpromoted := newID(), newID()
	held(fine)
	stageBytes(t, disk, fine, "c")
	disk.Promote(ctx, fine, -1)
	held(unpromoted)
	stageBytes(t, disk, unpromoted, "d")
	// Staged: unknown, decided elsewhere, still receiving.
	unknown, elsewhere, receiving := newID(), newID(), newID()
	put(elsewhere, func(u *domain.Upload) { u.State, u.Keepers = domain.Counting, []messages.Service{messages.Ones} })
	put(receiving, func(u *domain.Upload) {})
	for _, id := range []string{unknown, elsewhere, receiving} {
		stageBytes(t, disk, id, "e")
	}
	// Metadata without bytes.
	missing := newID()
	held(missing)

	repair, err := command.NewReconcileHandler(messages.Zeros, uploads, disk, 0, nil).Handle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := command.Repair{StagedRemoved: 6, StoredRemoved: 3, StoredPromoted: 1, Missing: 1}
	if repair != want {
		t.Errorf("repair %+v, want %+v", repair, want)
	}
	checks := []struct {
		path string
		want bool
	}{
		{staged(uncommitted), true}, {stored(uncommitted), false},
		{stored(failed), false}, {stored(deleted), false},
		{stored(fine), true}, {staged(fine), false}, {stored(unpromoted), true}, {staged(unpromoted), false},
		{staged(failed), false}, {staged(deleted), false},
		{staged(unknown), false}, {staged(elsewhere), false}, {staged(receiving), true},
	}
	for i, c := range checks {
		if fileExists(t, c.path) != c.want {
			t.Errorf("check %d: %s exists = %v, want %v", i, c.path, !c.want, c.want)
		}
	}
}
