package command_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/baum-store/baum/messages"
)

// Replica A was storing the file from the log (WriteStored, in place) when
// it was killed -9: half the bytes are at the stored path. Replica B gets
// the partition and handles the count: its Promote finds no staged copy
// here, sees the stored name, and calls it promoted.
func TestAStoredFileWithoutAllItsBytesIsNeverCommitted(t *testing.T) {
	ctx := context.Background()
	shared := newFixture(t, messages.Zeros)
	c, b := shared.replica(t, "c"), shared.replica(t, "b")
	pc, pb := c.ports(nil), b.ports(nil)
	id := newID()
	data := bytes.Repeat([]byte{0x01, 0x00, 0x80}, 20_000)
	stage := pc.stage(t, true)
	stageAll(t, stage, id, data)
	p, _ := shared.disk.StoredPath(id)
	if err := os.WriteFile(p, data[:len(data)/2], 0o640); err != nil { // what A's kill left
		t.Fatal(err)
	}
	place := pb.place(t)
	for _, e := range []*messages.BitsCounted{countedBy(messages.Ones, id, data), countedBy(messages.Zeros, id, data)} {
		if err := place.Handle(ctx, e); err != nil {
			t.Logf("B: %v", err)
		}
	}
	got, _ := os.ReadFile(p)
	t.Logf("kept=%v stored %d of %d bytes", shared.upload(id).Kept, len(got), len(data))
	if shared.upload(id).Kept && len(got) != len(data) {
		t.Error("committed a partial stored file")
	}
}
