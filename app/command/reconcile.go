package command

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// ReconcileHandler repairs, at start, what a crash between a disk change and
// its transaction left behind.
type ReconcileHandler struct {
	self    messages.Service
	uploads Uploads
	disk    Disk
	grace   time.Duration
	log     *slog.Logger
}

// DefaultOrphanGrace is how long a stored file without metadata is left
// alone at start: the time a live replica's placement may take to commit.
const DefaultOrphanGrace = 2 * time.Minute

// NewReconcileHandler returns a ReconcileHandler that leaves stored files
// written less than grace ago alone (0: none is left); log may be nil.
func NewReconcileHandler(self messages.Service, uploads Uploads, disk Disk, grace time.Duration, log *slog.Logger) ReconcileHandler {
	return ReconcileHandler{self: self, uploads: uploads, disk: disk, grace: grace, log: newObservers(nil, log).log}
}

// Repair is what Reconcile found and fixed.
type Repair struct {
	StagedRemoved  int // staged files of uploads that are held, failed, decided elsewhere or unknown
	StoredRemoved  int // stored files without metadata (a placement or delete that did not finish)
	StoredPromoted int // files with metadata still only in staging, stored
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

// reconcileStored removes the stored files without metadata, and returns
// the ids of every stored file it leaves.
//
// Such a file is a placement that did not commit (its staged copy, or the
// log, still has the bytes, and the count delivered again stores it anew),
// a delete that did not finish, or the placement of a live replica that is
// about to commit: a file written less than grace ago is left alone.
func (h ReconcileHandler) reconcileStored(ctx context.Context, held map[string]bool, r *Repair) (map[string]bool, error) {
	stored, err := h.disk.ListStored(ctx)
	if err != nil {
		return nil, err
	}
	onDisk := make(map[string]bool, len(stored))
	for _, f := range stored {
		onDisk[f.ID] = true
		if held[f.ID] || time.Since(f.Written) < h.grace {
			continue
		}
		// Held since the snapshot? A live replica may have committed it
		// while a long listing ran.
		if u, err := uploadOrNil(ctx, h.uploads, f.ID); err != nil {
			return nil, err
		} else if u != nil && u.Kept {
			continue
		}
		if err := h.disk.RemoveStored(ctx, f.ID); err != nil {
			return nil, err
		}
		delete(onDisk, f.ID)
		r.StoredRemoved++
	}
	return onDisk, nil
}

// reconcileStaged promotes the staged files whose metadata committed but
// which are not stored yet, and removes those no upload needs any more.
func (h ReconcileHandler) reconcileStaged(ctx context.Context, held, onDisk map[string]bool, r *Repair) error {
	staged, err := h.disk.ListStaged()
	if err != nil {
		return err
	}
	for _, id := range staged {
		u, err := uploadOrNil(ctx, h.uploads, id)
		if err != nil {
			return err
		}
		if held[id] && !onDisk[id] && u != nil {
			if err := h.disk.Promote(ctx, id, u.Size); err != nil {
				return err
			}
			onDisk[id] = true
			r.StoredPromoted++
		}
		if !held[id] && needsStaged(h.self, u) {
			continue
		}
		if err := h.disk.RemoveStaged(id); err != nil {
			return err
		}
		r.StagedRemoved++
	}
	return nil
}

// needsStaged reports whether upload u (nil: unknown) still needs service
// self's staged copy: it is not over, not held there yet, and either
// undecided or decided for self.
func needsStaged(self messages.Service, u *domain.Upload) bool {
	return u != nil && !u.Done() && !u.Kept && !u.Deleted && (!u.Decided() || u.Keeps(self))
}

// uploadOrNil returns the upload's record, nil if there is none.
func uploadOrNil(ctx context.Context, uploads Uploads, id string) (*domain.Upload, error) {
	u, err := uploads.Get(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	}
	return u, err
}
