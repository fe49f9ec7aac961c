package command

import (
	"context"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// RecordStoredHandler records that a keeper holds a file (its FileStored).
// The receiving service answers its waiting HTTP request from these.
type RecordStoredHandler struct {
	self    messages.Service
	uploads Uploads
}

// NewRecordStoredHandler returns a RecordStoredHandler for service self.
func NewRecordStoredHandler(self messages.Service, uploads Uploads) RecordStoredHandler {
	return RecordStoredHandler{self: self, uploads: uploads}
}

// Handle records one FileStored. This service's own was recorded when it
// stored the file (PlaceFileHandler), in the same commit.
func (h RecordStoredHandler) Handle(ctx context.Context, e *messages.FileStored) error {
	if e.Service == h.self {
		return nil
	}
	return h.uploads.Update(ctx, e.FileID, func(u *domain.Upload, _ FileIndex) error {
		u.RecordStored(e.Service)
		return nil
	})
}
