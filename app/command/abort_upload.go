package command

import (
	"context"
	"errors"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// AbortUploadHandler turns a sender's AbortUpload into an UploadFailed event.
// The event, not the command, fails the upload: it travels in the upload's
// event partition, where every service sees it in the same place relative to
// the counts, so an abort that comes after the placement was decided changes
// nothing anywhere.
type AbortUploadHandler struct{ Deps }

// NewAbortUploadHandler returns an AbortUploadHandler.
func NewAbortUploadHandler(d Deps) *AbortUploadHandler {
	d.setDefaults()
	return &AbortUploadHandler{Deps: d}
}

// Handle handles one AbortUpload.
func (h *AbortUploadHandler) Handle(ctx context.Context, c *messages.AbortUpload) error {
	u, err := h.Uploads.Get(ctx, c.UploadID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
	case err != nil:
		return err
	case u.Done() || u.Decided():
		return nil
	}
	return publish(ctx, h.Events, messages.UploadFailed{UploadID: c.UploadID, Service: h.Self,
		Reason: messages.ReasonAborted, Detail: c.Reason, At: time.Now().UTC()})
}
