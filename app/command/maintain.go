package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// Maintenance keeps staging and storage tidy: it fails uploads whose chunks
// stopped coming, and at start repairs what a crash between a disk change and
// its transaction left behind.
type Maintenance struct{ Deps }

// NewMaintenance returns a Maintenance.
func NewMaintenance(d Deps) *Maintenance {
	d.setDefaults()
	return &Maintenance{Deps: d}
}

// FailStalled publishes UploadFailed for every upload that has been
// receiving without progress for at least maxIdle (its sender died midway
// without aborting). It returns how many it failed.
func (m *Maintenance) FailStalled(ctx context.Context, maxIdle time.Duration) (int, error) {
	ids, err := m.Uploads.Stalled(ctx, maxIdle.Seconds())
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := publish(ctx, m.Events, messages.UploadFailed{UploadID: id, Service: m.Self, Reason: messages.ReasonStalled,
			Detail: fmt.Sprintf("no chunk arrived for %s", maxIdle), At: time.Now().UTC()}); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// Repair is what Reconcile found and fixed.
type Repair struct {
	StagedRemoved  int // staged files of uploads that are failed, decided elsewhere or unknown
	StoredRemoved  int // stored files without metadata whose upload is not waiting for them
	StoredDemoted  int // stored files whose transaction did not commit, moved back to staging
	StoredPromoted int // files with metadata still in staging, moved into storage
	Missing        int // files with metadata but no bytes anywhere (reported, never invented)
}

// Reconcile makes the disk agree with the database. It must run before the
// service consumes messages: a placement in flight looks like an orphan.
//
// The database is the truth. A stored file belongs if its metadata is
// committed; a stored file without metadata whose upload still needs it
// (not over, and undecided or decided for this service) goes back to
// staging, where the BitsCounted delivered again finds it; any other is
// removed. A staged file stays only while its upload still needs it.
func (m *Maintenance) Reconcile(ctx context.Context) (Repair, error) {
	var r Repair
	held, err := m.Uploads.FileIDs(ctx)
	if err != nil {
		return r, err
	}
	stored, err := m.Disk.ListStored()
	if err != nil {
		return r, err
	}
	onDisk := make(map[string]bool, len(stored))
	for _, id := range stored {
		onDisk[id] = true
		if held[id] {
			continue
		}
		u, err := m.upload(ctx, id)
		if err != nil {
			return r, err
		}
		if m.needsStaged(u) {
			// A placement died between moving the file and committing:
			// the decision was in that transaction too, so the record may
			// name no keepers yet. The count that decides is delivered
			// again and must find the file staged.
			if err := m.Disk.Demote(id); err != nil {
				return r, err
			}
			r.StoredDemoted++
			continue
		}
		if err := m.Disk.RemoveStored(id); err != nil {
			return r, err
		}
		r.StoredRemoved++
	}
	staged, err := m.Disk.ListStaged()
	if err != nil {
		return r, err
	}
	for _, id := range staged {
		if held[id] && !onDisk[id] {
			if err := m.Disk.Promote(id); err != nil {
				return r, err
			}
			onDisk[id] = true
			r.StoredPromoted++
			continue
		}
		u, err := m.upload(ctx, id)
		if err != nil {
			return r, err
		}
		if m.needsStaged(u) {
			continue
		}
		if err := m.Disk.RemoveStaged(id); err != nil {
			return r, err
		}
		r.StagedRemoved++
	}
	for id := range held {
		if !onDisk[id] {
			r.Missing++
			m.Log.ErrorContext(ctx, "file has metadata but no bytes on disk", "file_id", id)
		}
	}
	return r, nil
}

// needsStaged reports whether upload u (nil: unknown) still needs this
// service's staged copy: it is not over, not held here yet, and either
// undecided or decided for this service.
func (m *Maintenance) needsStaged(u *domain.Upload) bool {
	return u != nil && !u.Done() && !u.Kept && !u.Deleted && (!u.Decided() || u.Keeps(m.Self))
}

func (m *Maintenance) upload(ctx context.Context, id string) (*domain.Upload, error) {
	u, err := m.Uploads.Get(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	}
	return u, err
}
