package command

import (
	"context"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// RecordStoredHandler records that a keeper holds a file (its FileStored).
// The receiving service answers its waiting HTTP request from these.
type RecordStoredHandler struct {
	uploads  Uploads
	notifier *domain.Notifier
}

// NewRecordStoredHandler returns a RecordStoredHandler; notifier may be nil.
func NewRecordStoredHandler(uploads Uploads, notifier *domain.Notifier) RecordStoredHandler {
	return RecordStoredHandler{uploads: uploads, notifier: newObservers(notifier, nil, nil).notifier}
}

// Handle records one FileStored.
func (h RecordStoredHandler) Handle(ctx context.Context, e *messages.FileStored) error {
	if err := h.uploads.Update(ctx, e.FileID, func(u *domain.Upload, _ FileIndex) error {
		u.RecordStored(e.Service)
		return nil
	}); err != nil {
		return err
	}
	h.notifier.Notify(e.FileID)
	return nil
}
