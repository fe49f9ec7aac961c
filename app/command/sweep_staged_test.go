package command_test

import (
	"path/filepath"
	"testing"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/internal/memstore"
	"github.com/baum-store/baum/messages"
)

// The running sweep removes the staged files of uploads that are over for
// this service, and only those: a file whose upload is still receiving, or
// has no record yet (its first chunk may be committing), stays.
func TestSweepStagedRemovesOnlyWhatNoUploadNeeds(t *testing.T) {
	dir := t.TempDir()
	disk, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	uploads := memstore.New()
	ctx := t.Context()
	put := func(edit func(u *domain.Upload)) string {
		id := newID()
		uploads.Update(ctx, id, func(u *domain.Upload, _ command.FileIndex) error { edit(u); return nil })
		stageBytes(t, disk, id, "abc")
		return id
	}
	over := []string{
		put(func(u *domain.Upload) { u.State = domain.Failed }),
		put(func(u *domain.Upload) { u.State, u.Kept = domain.Counting, true }),
		put(func(u *domain.Upload) { u.State, u.Deleted = domain.Placed, true }),
		put(func(u *domain.Upload) { u.State, u.Keepers = domain.Counting, []messages.Service{messages.Ones} }),
	}
	needed := []string{
		put(func(u *domain.Upload) { u.State = domain.Receiving }),
		put(func(u *domain.Upload) { u.State, u.Keepers = domain.Counting, []messages.Service{messages.Zeros} }),
	}
	unknown := newID()
	stageBytes(t, disk, unknown, "abc")

	n, err := command.NewSweepStagedHandler(messages.Zeros, uploads, disk).Handle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(over) {
		t.Errorf("removed %d staged files, want %d", n, len(over))
	}
	staged := func(id string) bool { return fileExists(t, filepath.Join(dir, "staging", id)) }
	for _, id := range over {
		if staged(id) {
			t.Errorf("staged file of an upload over for zeros stays: %s", id)
		}
	}
	for _, id := range append(needed, unknown) {
		if !staged(id) {
			t.Errorf("staged file %s removed while its upload may need it", id)
		}
	}
}
