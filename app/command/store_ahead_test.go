package command_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// inUpdate tells whether an Update's function is running: inside the
// upload's transaction, with its row (and its group commit) held.
type inUpdate struct {
	command.Uploads
	busy *atomic.Bool
}

func (u inUpdate) Update(ctx context.Context, id string, fn func(*domain.Upload, command.FileIndex) error) error {
	return u.Uploads.Update(ctx, id, func(up *domain.Upload, files command.FileIndex) error {
		u.busy.Store(true)
		defer u.busy.Store(false)
		return fn(up, files)
	})
}

// promoteWatch records whether a Promote ran inside a transaction.
type promoteWatch struct {
	command.Disk
	busy            *atomic.Bool
	inside, outside atomic.Int32
}

func (d *promoteWatch) Promote(ctx context.Context, id string, size int64) error {
	if d.busy.Load() {
		d.inside.Add(1)
	} else {
		d.outside.Add(1)
	}
	return d.Disk.Promote(ctx, id, size)
}

// A file staged on disk is stored before the transaction that commits its
// placement, not inside it: storing a big file (an S3 PUT, a read back
// from the log) would hold every Update of its group commit meanwhile.
// A count that does not keep the file here stores nothing.
func TestAKeeperStoresAStagedFileOutsideThePlacementsTransaction(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, messages.Zeros)
	busy := new(atomic.Bool)
	deps := f.ports(nil)
	watch := &promoteWatch{Disk: f.disk, busy: busy}
	deps.uploads, deps.disk = inUpdate{Uploads: f.store, busy: busy}, watch
	deps.staging = command.NewStaging(watch, domain.BitKind(f.self))

	for _, c := range []struct {
		name  string
		data  []byte
		keeps bool
	}{{"zeros keeps", bytes.Repeat([]byte{0x01, 0x00, 0x80}, 20_000), true}, {"ones keeps", bytes.Repeat([]byte{0xfe, 0xff, 0x7f}, 20_000), false}} {
		id := newID()
		stage := deps.stage(t, true)
		stageAll(t, stage, id, c.data)
		place := deps.place(t)
		for _, s := range messages.Services() {
			if err := place.Handle(ctx, countedBy(s, id, c.data)); err != nil {
				t.Fatal(err)
			}
		}
		stored, _ := f.disk.StoredExists(ctx, id)
		if stored != c.keeps || f.upload(id).Kept != c.keeps {
			t.Errorf("%s: stored %v, kept %v", c.name, stored, f.upload(id).Kept)
		}
	}
	if watch.inside.Load() != 0 || watch.outside.Load() != 1 {
		t.Errorf("promoted %d times inside a transaction and %d outside; want 0 and 1", watch.inside.Load(), watch.outside.Load())
	}
}
