package query

import (
	"context"
	"errors"
	"time"

	"github.com/baum-store/baum/app/domain"
)

// UploadHandler answers for one upload, now or once it is settled.
type UploadHandler struct {
	read     ReadModel
	notifier *domain.Notifier
}

// NewUploadHandler returns an UploadHandler. Waits wake up on notifier's
// signals and, for changes made by another process, on a poll.
func NewUploadHandler(read ReadModel, notifier *domain.Notifier) UploadHandler {
	return UploadHandler{read: read, notifier: notifier}
}

// Handle returns the upload's record or an error wrapping domain.ErrNotFound.
func (h UploadHandler) Handle(ctx context.Context, id string) (*domain.Upload, error) {
	return h.read.Upload(ctx, id)
}

// pollEvery bounds how late a wait notices a change made by another process.
const pollEvery = 500 * time.Millisecond

// Await returns the upload's record once it is placed or failed, or its
// latest record when ctx ends first (then with ctx's error). An upload this
// service has not heard of yet counts as receiving.
func (h UploadHandler) Await(ctx context.Context, id string) (*domain.Upload, error) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		changed, stop := h.notifier.Watch(id)
		u, err := h.read.Upload(ctx, id)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			u = domain.NewUpload(id)
		case err != nil:
			stop()
			if ctx.Err() != nil {
				return domain.NewUpload(id), ctx.Err()
			}
			return nil, err
		case u.Done():
			stop()
			return u, nil
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			stop()
			return u, ctx.Err()
		}
		stop()
	}
}
