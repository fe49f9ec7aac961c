package command

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/messages"
)

// DeleteFileHandler removes a file this service holds: metadata and totals in
// one transaction, then the bytes, then FileDeleted. A DeleteFile for the
// other service, or for a file not held, changes nothing.
type DeleteFileHandler struct {
	self     messages.Service
	uploads  Uploads
	disk     Disk
	events   EventPublisher
	notifier *app.Notifier
	log      *slog.Logger
}

// NewDeleteFileHandler returns a DeleteFileHandler.
func NewDeleteFileHandler(self messages.Service, uploads Uploads, disk Disk, events EventPublisher, notifier *app.Notifier, log *slog.Logger) *DeleteFileHandler {
	return &DeleteFileHandler{self: self, uploads: uploads, disk: disk, events: events, notifier: notifier, log: log}
}

// Handle handles one DeleteFile.
func (h *DeleteFileHandler) Handle(ctx context.Context, c *messages.DeleteFile) error {
	if c.Service != h.self {
		return nil
	}
	f, deleted, err := h.uploads.DeleteFile(ctx, c.FileID)
	if err != nil {
		return err
	}
	if !deleted {
		// Deleted before? Then the event may not have gone out.
		u, err := h.uploads.Get(ctx, c.FileID)
		if errors.Is(err, app.ErrNotFound) || err == nil && !u.Deleted {
			return nil
		} else if err != nil {
			return err
		}
		f = u.File(time.Time{})
	}
	// The metadata is gone; a crash before the bytes go leaves a stored file
	// without metadata, which the next start removes.
	if err := h.disk.RemoveStored(c.FileID); err != nil {
		h.log.WarnContext(ctx, "cannot remove stored file; the next start removes it", "file_id", c.FileID, "error", err)
	}
	h.notifier.Notify(c.FileID)
	if deleted {
		h.log.InfoContext(ctx, "file deleted", "file_id", c.FileID, "size", f.Size)
	}
	return publish(ctx, h.events, messages.FileDeleted{FileID: c.FileID, Service: h.self, Size: f.Size, At: time.Now().UTC()})
}
