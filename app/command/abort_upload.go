package command

import (
	"context"
	"errors"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// UploadReader reads upload records.
type UploadReader interface {
	// Get returns the upload's record, or an error wrapping domain.ErrNotFound.
	Get(ctx context.Context, id string) (*domain.Upload, error)
}

// AbortUploadHandler turns a sender's AbortUpload into an UploadFailed event.
// The event, not the command, fails the upload: it travels in the upload's
// event partition, where every service sees it in the same place relative to
// the counts, so an abort that comes after the placement was decided changes
// nothing anywhere.
type AbortUploadHandler struct {
	self    messages.Service
	uploads UploadReader
	events  EventPublisher
}

// NewAbortUploadHandler returns an AbortUploadHandler.
func NewAbortUploadHandler(self messages.Service, uploads UploadReader, events EventPublisher) AbortUploadHandler {
	return AbortUploadHandler{self: self, uploads: uploads, events: events}
}

// Handle handles one AbortUpload.
func (h AbortUploadHandler) Handle(ctx context.Context, c *messages.AbortUpload) error {
	u, err := h.uploads.Get(ctx, c.UploadID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
	case err != nil:
		return err
	case u.Done() || u.Decided():
		return nil
	}
	return publish(ctx, h.events, messages.UploadFailed{UploadID: c.UploadID, Service: h.self,
		Reason: messages.ReasonAborted, Detail: c.Reason, At: time.Now().UTC()})
}
