package command_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

type beforeUpdate struct {
	command.Uploads
	before func()
}

func (o beforeUpdate) Update(ctx context.Context, id string, fn func(*domain.Upload, command.FileIndex) error) error {
	o.before()
	return o.Uploads.Update(ctx, id, fn)
}

// The other role's count comes 5 minutes after the last chunk; replica B
// restarts (repair with the default grace) while A's placement is between
// its store-ahead and its commit.
func TestRepairOnAnotherReplicaLeavesAFreshlyPromotedFile(t *testing.T) {
	ctx := context.Background()
	shared := newFixture(t, messages.Zeros)
	a, b := shared.replica(t, "a"), shared.replica(t, "b")
	pa, pb := a.ports(nil), b.ports(nil)
	id := newID()
	data := bytes.Repeat([]byte{0x01, 0x00, 0x80}, 20_000)
	stage := pa.stage(t, true)
	stageAll(t, stage, id, data)
	old := time.Now().Add(-5 * time.Minute)
	if err := os.Chtimes(filepath.Join(shared.dir, "staging", "a", id), old, old); err != nil {
		t.Fatal(err)
	}
	ones, zeros := countedBy(messages.Ones, id, data), countedBy(messages.Zeros, id, data)
	if err := pa.place(t).Handle(ctx, ones); err != nil {
		t.Fatal(err)
	}
	repairB := command.NewReconcileHandler(messages.Zeros, shared.store, pb.disk, command.DefaultOrphanGrace, nil)
	pa.uploads = beforeUpdate{Uploads: shared.store, before: func() {
		r, err := repairB.Handle(ctx)
		t.Logf("B's repair: %+v %v", r, err)
	}}
	if err := pa.place(t).Handle(ctx, zeros); err != nil {
		t.Fatal(err)
	}
	u := shared.upload(id)
	p, _ := shared.disk.StoredPath(id)
	_, serr := os.Stat(p)
	t.Logf("kept=%v stored: %v staged on A: %v", u.Kept, serr, a.stagedIDs())
	if u.Kept && serr != nil {
		t.Error("kept with metadata, but the stored file is gone")
	}
}
