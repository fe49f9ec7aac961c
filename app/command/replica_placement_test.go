package command_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// otherFirst: before A's Update runs, replica B handles the same count
// (rebalance / redelivery), then A's Update fails (transaction error,
// ctx cancelled while queued).
type otherFirst struct {
	command.Uploads
	before func()
}

func (o otherFirst) Update(ctx context.Context, id string, fn func(*domain.Upload, command.FileIndex) error) error {
	o.before()
	return errors.New("transaction failed")
}

// A placement whose transaction fails leaves the stored file alone: another
// replica may have committed the same file under the same name meanwhile.
func TestAFailedPlacementNeverRemovesAFileAnotherReplicaCommitted(t *testing.T) {
	ctx := context.Background()
	shared := newFixture(t, messages.Zeros)
	a, b := shared.replica(t, "a"), shared.replica(t, "b")
	pa, pb := a.ports(nil), b.ports(nil)
	id := newID()
	data := bytes.Repeat([]byte{0x01, 0x00, 0x80}, 20_000)
	stage := pa.stage(t, true)
	stageAll(t, stage, id, data)
	placeB := pb.place(t)
	ones, zeros := countedBy(messages.Ones, id, data), countedBy(messages.Zeros, id, data)
	if err := pa.place(t).Handle(ctx, ones); err != nil {
		t.Fatal(err)
	}
	pa.uploads = otherFirst{Uploads: shared.store, before: func() {
		if err := placeB.Handle(ctx, zeros); err != nil {
			t.Fatalf("B: %v", err)
		}
	}}
	err := pa.place(t).Handle(ctx, zeros)
	t.Logf("A: %v", err)
	u := shared.upload(id)
	p, _ := shared.disk.StoredPath(id)
	_, serr := os.Stat(p)
	t.Logf("kept=%v stored file: %v", u.Kept, serr)
	if u.Kept && serr != nil {
		t.Errorf("metadata committed (by B) but A's unstore removed the stored file")
	}
	// the sweep on A then removes A's staged copy: the bytes are gone.
	n, err := command.NewSweepStagedHandler(messages.Zeros, shared.store, a.disk).Handle(ctx)
	t.Logf("sweep on A removed %d staged (err %v)", n, err)
}
