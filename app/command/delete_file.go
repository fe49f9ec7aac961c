package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/baum-store/baum/app/domain"
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
	notifier *domain.Notifier
	observers
}

// DeleteFileConfig configures a DeleteFileHandler.
type DeleteFileConfig struct {
	// Self is the service the handler runs in.
	Self messages.Service
	// Uploads keeps the held files and their totals.
	Uploads Uploads
	// Disk removes the stored bytes.
	Disk Disk
	// Events publishes FileDeleted.
	Events EventPublisher
	// Notifier wakes the waits for the delete (a DELETE request's); it may
	// be nil.
	Notifier *domain.Notifier
	// Metrics and Log are told of the work; each may be nil.
	Metrics domain.Metrics
	Log     *slog.Logger
}

// Validate reports every missing dependency.
func (c DeleteFileConfig) Validate() error {
	return errors.Join(validSelf(c.Self), missing("Uploads", c.Uploads == nil), missing("Disk", c.Disk == nil),
		missing("Events", c.Events == nil))
}

// NewDeleteFileHandler returns a DeleteFileHandler.
func NewDeleteFileHandler(config DeleteFileConfig) (*DeleteFileHandler, error) {
	if err := config.Validate(); err != nil {
		return nil, fmt.Errorf("delete file: %w", err)
	}
	notifier := config.Notifier
	if notifier == nil {
		notifier = domain.NewNotifier()
	}
	return &DeleteFileHandler{self: config.Self, uploads: config.Uploads, disk: config.Disk, events: config.Events,
		notifier: notifier, observers: newObservers(config.Metrics, config.Log)}, nil
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
		if errors.Is(err, domain.ErrNotFound) || err == nil && !u.Deleted {
			return nil
		} else if err != nil {
			return err
		}
		f = u.File()
	}
	// The metadata is gone; a crash before the bytes go leaves a stored file
	// without metadata, which the next start removes.
	if err := h.disk.RemoveStored(ctx, c.FileID); err != nil {
		h.log.WarnContext(ctx, "cannot remove stored file; the next start removes it", "file_id", c.FileID, "error", err)
	}
	h.notifier.Notify(c.FileID)
	if deleted {
		h.metrics.FileDeleted(f.Size)
		h.log.InfoContext(ctx, "file deleted", "file_id", c.FileID, "size", f.Size)
	}
	return publish(ctx, h.events, messages.FileDeleted{FileID: c.FileID, Service: h.self, Size: f.Size, At: time.Now().UTC()})
}
