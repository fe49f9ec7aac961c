package command_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/messages"
)

// replica is a second process of f's role: its own staging directory in
// the role's shared data directory, the role's database.
func (f *fixture) replica(t *testing.T, instance string) *fixture {
	t.Helper()
	disk, err := storage.OpenWithConfig(storage.Config{Dir: f.dir, Instance: instance})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, self: f.self, store: f.store, disk: disk, dir: f.dir, events: f.events}
}

// A partition that moves to another replica in the middle of an upload: the
// new owner stages the chunks the old one had from the log and goes on; the
// file it counts, and the one stored, are the upload's bytes, neither lost
// nor doubled.
func TestAnUploadWhosePartitionMovesMidwayGoesOnFromTheLog(t *testing.T) {
	ctx := context.Background()
	log := newFakeLog()
	shared := newFixture(t, messages.Zeros)
	a, b := shared.replica(t, "a"), shared.replica(t, "b")
	stageA, _, _ := a.inMemory(t, log)
	stageB, placeB, _ := b.inMemory(t, log)
	id, data := newID(), randomData(7, 50_000)
	for i := range data {
		data[i] &= 0x11 // mostly zero bits: zeros keeps it
	}
	parts := chunks(id, data, 4096)
	for i, c := range parts {
		// A stages the first half; the partition moves, B the rest.
		stage := stageA
		if i >= len(parts)/2 {
			stage = stageB
		}
		if err := stage.Handle(log.deliver(c), c); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	counted := countedBy(messages.Zeros, id, data)
	var published *messages.BitsCounted
	for _, e := range b.events.take() {
		if e, ok := e.(messages.BitsCounted); ok {
			published = &e
		}
	}
	if published == nil || published.Count != counted.Count || published.SHA256 != counted.SHA256 || published.Size != counted.Size {
		t.Fatalf("B counted %+v, want %+v", published, counted)
	}
	if log.reads != 1 {
		t.Errorf("the log was read %d times; want once, when the partition came", log.reads)
	}

	// The decision comes to B's events partition: B stores its full copy.
	for _, e := range []*messages.BitsCounted{counted, countedBy(messages.Ones, id, data)} {
		if err := placeB.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got := shared.storedBytes(id); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want the upload's %d", len(got), len(data))
	}
}

// A decided file whose staged copy is on another replica (its chunk
// partition there, its event partition here) is stored from the log; a
// part of it staged here is not mistaken for the file.
func TestAFileStagedByAnotherReplicaIsStoredFromTheLog(t *testing.T) {
	ctx := context.Background()
	log := newFakeLog()
	shared := newFixture(t, messages.Zeros)
	a, b := shared.replica(t, "a"), shared.replica(t, "b")
	stageA, _, _ := a.inMemory(t, log)
	stageB, placeB, _ := b.inMemory(t, log)
	id, data := newID(), bytes.Repeat([]byte{0x01, 0x02}, 30_000)
	parts := chunks(id, data, 8192)
	// B staged the first chunk before the partition went to A.
	if err := stageB.Handle(log.deliver(parts[0]), parts[0]); err != nil {
		t.Fatal(err)
	}
	for _, c := range parts[1:] {
		if err := stageA.Handle(log.deliver(c), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []*messages.BitsCounted{countedBy(messages.Ones, id, data), countedBy(messages.Zeros, id, data)} {
		if err := placeB.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got := shared.storedBytes(id); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want the upload's %d (B holds only its first chunk)", len(got), len(data))
	}
	if !shared.upload(id).Kept {
		t.Error("not kept")
	}
}
