package command

import (
	"context"
	"log/slog"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// RecordFailureHandler fails an upload on its UploadFailed, unless the
// placement was already decided, and drops what this service staged for it.
type RecordFailureHandler struct {
	uploads Uploads
	staging *Staging
	observers
}

// NewRecordFailureHandler returns a RecordFailureHandler; metrics and log
// may be nil.
func NewRecordFailureHandler(uploads Uploads, staging *Staging, metrics domain.Metrics, log *slog.Logger) *RecordFailureHandler {
	return &RecordFailureHandler{uploads: uploads, staging: staging, observers: newObservers(metrics, log)}
}

// Handle records one UploadFailed.
func (h *RecordFailureHandler) Handle(ctx context.Context, e *messages.UploadFailed) error {
	failed, changed := false, false
	if err := h.uploads.Update(ctx, e.UploadID, func(u *domain.Upload, _ FileIndex) error {
		changed = u.Fail(e.Service, e.Reason, e.Detail)
		failed = u.State == domain.Failed
		return nil
	}); err != nil {
		return err
	}
	if changed {
		h.metrics.UploadFailed(e.Reason)
		// Once per upload: the other services' UploadFailed, and this
		// one delivered again, change nothing and say nothing.
		h.log.InfoContext(ctx, "upload failed", "upload_id", e.UploadID, "by", e.Service, "reason", e.Reason, "detail", e.Detail)
	}
	if failed {
		if err := h.staging.Discard(e.UploadID); err != nil {
			h.log.WarnContext(ctx, "cannot remove staged file; the next start removes it", "upload_id", e.UploadID, "error", err)
		}
	}
	return nil
}
