package command

import (
	"context"
	"errors"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// DeleteFileHandler removes a file this service holds: metadata and totals in
// one transaction, then the bytes, then FileDeleted. A DeleteFile for the
// other service, or for a file not held, changes nothing.
type DeleteFileHandler struct{ Deps }

// NewDeleteFileHandler returns a DeleteFileHandler.
func NewDeleteFileHandler(d Deps) *DeleteFileHandler {
	d.setDefaults()
	return &DeleteFileHandler{Deps: d}
}

// Handle handles one DeleteFile.
func (h *DeleteFileHandler) Handle(ctx context.Context, c *messages.DeleteFile) error {
	if c.Service != h.Self {
		return nil
	}
	f, deleted, err := h.Uploads.DeleteFile(ctx, c.FileID)
	if err != nil {
		return err
	}
	if !deleted {
		// Deleted before? Then the event may not have gone out.
		u, err := h.Uploads.Get(ctx, c.FileID)
		if errors.Is(err, domain.ErrNotFound) || err == nil && !u.Deleted {
			return nil
		} else if err != nil {
			return err
		}
		f = u.File(time.Time{})
	}
	// The metadata is gone; a crash before the bytes go leaves a stored file
	// without metadata, which the next start removes.
	if err := h.Disk.RemoveStored(c.FileID); err != nil {
		h.Log.WarnContext(ctx, "cannot remove stored file; the next start removes it", "file_id", c.FileID, "error", err)
	}
	h.Notifier.Notify(c.FileID)
	if deleted {
		h.Metrics.FileDeleted(f.Size)
		h.Log.InfoContext(ctx, "file deleted", "file_id", c.FileID, "size", f.Size)
	}
	return publish(ctx, h.Events, messages.FileDeleted{FileID: c.FileID, Service: h.Self, Size: f.Size, At: time.Now().UTC()})
}
