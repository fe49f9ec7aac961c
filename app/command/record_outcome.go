package command

import (
	"context"
	"errors"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// RecordOutcomeHandler follows what happens to every upload after the
// counts: which keeper stored it, whether it failed, whether a keeper deleted
// it. The receiving service answers its waiting HTTP request from these.
type RecordOutcomeHandler struct{ Deps }

// NewRecordOutcomeHandler returns a RecordOutcomeHandler.
func NewRecordOutcomeHandler(d Deps) *RecordOutcomeHandler {
	d.setDefaults()
	return &RecordOutcomeHandler{Deps: d}
}

// FileStored records that a keeper holds the file.
func (h *RecordOutcomeHandler) FileStored(ctx context.Context, e *messages.FileStored) error {
	if err := h.Uploads.Update(ctx, e.FileID, func(u *domain.Upload, _ FileIndex) error {
		u.RecordStored(e.Service)
		return nil
	}); err != nil {
		return err
	}
	h.Notifier.Notify(e.FileID)
	return nil
}

// UploadFailed fails the upload, unless its placement was already decided,
// and drops what this service staged for it.
func (h *RecordOutcomeHandler) UploadFailed(ctx context.Context, e *messages.UploadFailed) error {
	failed, changed := false, false
	if err := h.Uploads.Update(ctx, e.UploadID, func(u *domain.Upload, _ FileIndex) error {
		changed = u.Fail(e.Service, e.Reason, e.Detail)
		failed = u.State == domain.Failed
		return nil
	}); err != nil {
		return err
	}
	if changed {
		h.Metrics.UploadFailed(e.Reason)
	}
	if failed {
		if err := h.Staging.Discard(e.UploadID); err != nil {
			h.Log.WarnContext(ctx, "cannot remove staged file; the next start removes it", "upload_id", e.UploadID, "error", err)
		}
		h.Log.InfoContext(ctx, "upload failed", "upload_id", e.UploadID, "by", e.Service, "reason", e.Reason, "detail", e.Detail)
	}
	h.Notifier.Notify(e.UploadID)
	return nil
}

// FileDeleted records that a keeper no longer holds the file.
func (h *RecordOutcomeHandler) FileDeleted(ctx context.Context, e *messages.FileDeleted) error {
	if _, err := h.Uploads.Get(ctx, e.FileID); errors.Is(err, domain.ErrNotFound) {
		return nil // never heard of it: nothing to record
	} else if err != nil {
		return err
	}
	if err := h.Uploads.Update(ctx, e.FileID, func(u *domain.Upload, _ FileIndex) error {
		u.RecordDeleted(e.Service)
		return nil
	}); err != nil {
		return err
	}
	h.Notifier.Notify(e.FileID)
	return nil
}
