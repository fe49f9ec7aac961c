package command

import (
	"context"
	"errors"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// RecordDeletedHandler records that a keeper no longer holds a file (its
// FileDeleted).
type RecordDeletedHandler struct{ uploads Uploads }

// NewRecordDeletedHandler returns a RecordDeletedHandler.
func NewRecordDeletedHandler(uploads Uploads) RecordDeletedHandler {
	return RecordDeletedHandler{uploads: uploads}
}

// Handle records one FileDeleted.
func (h RecordDeletedHandler) Handle(ctx context.Context, e *messages.FileDeleted) error {
	if _, err := h.uploads.Get(ctx, e.FileID); errors.Is(err, domain.ErrNotFound) {
		return nil // never heard of it: nothing to record
	} else if err != nil {
		return err
	}
	return h.uploads.Update(ctx, e.FileID, func(u *domain.Upload, _ FileIndex) error {
		u.RecordDeleted(e.Service)
		return nil
	})
}
