package command

import (
	"context"
	"errors"
	"log/slog"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// ReconcileHandler repairs, at start, what a crash between a disk change and
// its transaction left behind.
type ReconcileHandler struct {
	self    messages.Service
	uploads Uploads
	disk    Disk
	log     *slog.Logger
}

// NewReconcileHandler returns a ReconcileHandler; log may be nil.
func NewReconcileHandler(self messages.Service, uploads Uploads, disk Disk, log *slog.Logger) ReconcileHandler {
	return ReconcileHandler{self: self, uploads: uploads, disk: disk, log: newObservers(nil, log).log}
}

// Repair is what Reconcile found and fixed.
type Repair struct {
	StagedRemoved  int // staged files of uploads that are failed, decided elsewhere or unknown
	StoredRemoved  int // stored files without metadata whose upload is not waiting for them
	StoredDemoted  int // stored files whose transaction did not commit, moved back to staging
	StoredPromoted int // files with metadata still in staging, moved into storage
	Missing        int // files with metadata but no bytes anywhere (reported, never invented)
}

// Handle makes the disk agree with the database. It must run before the
// service consumes messages: a placement in flight looks like an orphan.
//
// The database is the truth. A stored file belongs if its metadata is
// committed; a stored file without metadata whose upload still needs it
// (not over, and undecided or decided for this service) goes back to
// staging, where the BitsCounted delivered again finds it; any other is
// removed. A staged file stays only while its upload still needs it.
func (h ReconcileHandler) Handle(ctx context.Context) (Repair, error) {
	var r Repair
	held, err := h.uploads.FileIDs(ctx)
	if err != nil {
		return r, err
	}
	onDisk, err := h.reconcileStored(ctx, held, &r)
	if err != nil {
		return r, err
	}
	if err := h.reconcileStaged(ctx, held, onDisk, &r); err != nil {
		return r, err
	}
	for id := range held {
		if !onDisk[id] {
			r.Missing++
			h.log.ErrorContext(ctx, "file has metadata but no bytes on disk", "file_id", id)
		}
	}
	return r, nil
}

// reconcileStored demotes or removes the stored files without metadata, and
// returns the ids of every stored file it leaves.
func (h ReconcileHandler) reconcileStored(ctx context.Context, held map[string]bool, r *Repair) (map[string]bool, error) {
	stored, err := h.disk.ListStored()
	if err != nil {
		return nil, err
	}
	onDisk := make(map[string]bool, len(stored))
	for _, id := range stored {
		onDisk[id] = true
		if held[id] {
			continue
		}
		u, err := h.upload(ctx, id)
		if err != nil {
			return nil, err
		}
		if h.needsStaged(u) && u.InLog == nil {
			// A placement died between moving the file and committing: the
			// decision was in that transaction too, so the record may name
			// no keepers yet. The count that decides is delivered again and
			// must find the file staged. (A file staged in memory is written
			// again from the log: its stored copy goes, below.)
			if err := h.disk.Demote(id); err != nil {
				return nil, err
			}
			r.StoredDemoted++
			continue
		}
		if err := h.disk.RemoveStored(id); err != nil {
			return nil, err
		}
		r.StoredRemoved++
	}
	return onDisk, nil
}

// reconcileStaged promotes the staged files whose metadata committed and
// removes those no upload needs any more.
func (h ReconcileHandler) reconcileStaged(ctx context.Context, held, onDisk map[string]bool, r *Repair) error {
	staged, err := h.disk.ListStaged()
	if err != nil {
		return err
	}
	for _, id := range staged {
		if held[id] && !onDisk[id] {
			if err := h.disk.Promote(id); err != nil {
				return err
			}
			onDisk[id] = true
			r.StoredPromoted++
			continue
		}
		u, err := h.upload(ctx, id)
		if err != nil {
			return err
		}
		if h.needsStaged(u) {
			continue
		}
		if err := h.disk.RemoveStaged(id); err != nil {
			return err
		}
		r.StagedRemoved++
	}
	return nil
}

// needsStaged reports whether upload u (nil: unknown) still needs this
// service's staged copy: it is not over, not held here yet, and either
// undecided or decided for this service.
func (h ReconcileHandler) needsStaged(u *domain.Upload) bool {
	return u != nil && !u.Done() && !u.Kept && !u.Deleted && (!u.Decided() || u.Keeps(h.self))
}

func (h ReconcileHandler) upload(ctx context.Context, id string) (*domain.Upload, error) {
	u, err := h.uploads.Get(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	}
	return u, err
}
