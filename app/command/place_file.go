package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// PlaceFileHandler records the services' bit counts. The BitsCounted event
// that makes both counts known decides the placement: a keeper moves its
// staged file into storage and commits metadata and totals in the same
// transaction, then publishes FileStored; a service that does not keep the
// file drops its staged copy.
type PlaceFileHandler struct{ Deps }

// NewPlaceFileHandler returns a PlaceFileHandler for service self.
func NewPlaceFileHandler(d Deps) *PlaceFileHandler {
	d.setDefaults()
	return &PlaceFileHandler{Deps: d}
}

// Handle records one count.
func (h *PlaceFileHandler) Handle(ctx context.Context, e *messages.BitsCounted) error {
	var (
		promoted bool
		drop     bool
		out      messages.Message
		decided  []messages.Service
		failed   string
	)
	disk := h.Disk
	err := h.Uploads.Update(ctx, e.UploadID, func(u *domain.Upload, files FileIndex) error {
		promoted, drop, out, decided, failed = false, false, nil, nil, ""
		if u.Kept {
			out = h.stored(u) // delivered again: the first FileStored may not have gone out
			return nil
		}
		ok, err := u.RecordCount(*e)
		var mismatch domain.CountMismatch
		switch {
		case errors.As(err, &mismatch):
			if u.Fail(h.Self, messages.ReasonCountMismatch, mismatch.Detail) {
				drop, failed = true, messages.ReasonCountMismatch
				out = messages.UploadFailed{UploadID: u.ID, Service: h.Self, Reason: messages.ReasonCountMismatch,
					Detail: mismatch.Detail, At: time.Now().UTC()}
			}
			return nil
		case err != nil:
			return err
		case !ok:
			return nil
		}
		decided = u.Keepers
		if !u.Keeps(h.Self) {
			drop = true
			return nil
		}
		if err := disk.Promote(u.ID); errors.Is(err, domain.ErrNotStaged) {
			// Counts for an upload this service never staged (replayed from
			// elsewhere, or its staged file was lost): retrying cannot store
			// it, so the event goes to the poison topic, where an operator
			// can replay it once the bytes are back, and the partition
			// moves on.
			h.Log.ErrorContext(ctx, "decided to keep a file whose staged copy is gone", "upload_id", u.ID, "error", err)
			return fmt.Errorf("store file %s: %w", u.ID, err)
		} else if err != nil {
			// Never give up a decided file: retry until the disk lets us.
			return fmt.Errorf("%w: store file %s: %w", domain.ErrUnavailable, u.ID, err)
		}
		promoted = true
		if err := files.Add(ctx, u.File(time.Now().UTC())); err != nil {
			return err
		}
		u.Kept = true
		out = h.stored(u)
		return nil
	})
	if err != nil {
		if promoted {
			if derr := disk.Demote(e.UploadID); derr != nil {
				h.Log.ErrorContext(ctx, "cannot undo storing a file whose metadata did not commit; the next start repairs it",
					"upload_id", e.UploadID, "error", derr)
			}
		}
		return err
	}
	if decided != nil {
		h.Metrics.PlacementDecided(decided)
	}
	if promoted {
		h.Metrics.FileStored(e.Size)
	}
	if failed != "" {
		h.Metrics.UploadFailed(failed)
	}
	if drop {
		if err := h.Staging.Discard(e.UploadID); err != nil {
			h.Log.WarnContext(ctx, "cannot remove staged file; the next start removes it", "upload_id", e.UploadID, "error", err)
		}
	}
	h.Notifier.Notify(e.UploadID)
	if out == nil {
		return nil
	}
	if promoted {
		h.Log.InfoContext(ctx, "file stored", "upload_id", e.UploadID)
	}
	return publish(ctx, h.Events, out)
}

func (h *PlaceFileHandler) stored(u *domain.Upload) messages.FileStored {
	return messages.FileStored{FileID: u.ID, Service: h.Self, Name: u.Name, ContentType: u.ContentType,
		Size: u.Size, SHA256: u.SHA256, ZeroBits: *u.ZeroBits, OneBits: *u.OneBits, At: time.Now().UTC()}
}
