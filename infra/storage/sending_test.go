package storage_test

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/baum-store/baum/infra/storage"
)

// The journal of one instance shows, when opened, what earlier runs of that
// instance left in it, and neither what this run begins nor what another
// instance sharing the data directory is sending.
func TestTheSendJournalShowsWhatEarlierRunsLeft(t *testing.T) {
	dir := t.TempDir()
	earlier, err := storage.OpenSendJournal(dir, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	left, sent := uuid.NewString(), uuid.NewString()
	for _, id := range []string{left, sent} {
		if err := earlier.Begin(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := earlier.End(sent); err != nil {
		t.Fatal(err)
	}
	other, err := storage.OpenSendJournal(dir, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Begin(uuid.NewString()); err != nil {
		t.Fatal(err)
	}

	next, err := storage.OpenSendJournal(dir, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Begin(uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	if got := next.Left(); !slices.Equal(got, []string{left}) {
		t.Errorf("left %v, want only %s", got, left)
	}
	if err := next.End(left); err != nil || next.End(left) != nil {
		t.Errorf("End: %v (ending twice must not fail either)", err)
	}
	if err := next.Begin("../x"); err == nil {
		t.Error("a journal entry that is not an upload id")
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, err := storage.OpenSendJournal(dir, bad); err == nil {
			t.Errorf("instance %q accepted as a directory name", bad)
		}
	}
}
