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
	poll     time.Duration
}

// NewUploadHandler returns an UploadHandler. Waits wake up on notifier's
// signals and, for changes made by another process, on a poll.
func NewUploadHandler(read ReadModel, notifier *domain.Notifier) UploadHandler {
	if notifier == nil {
		notifier = domain.NewNotifier()
	}
	return UploadHandler{read: read, notifier: notifier, poll: DefaultPoll}
}

// WithPoll returns the handler with waits that read the upload again every
// poll when nothing wakes them.
func (h UploadHandler) WithPoll(poll time.Duration) UploadHandler {
	h.poll = poll
	return h
}

// Handle returns the upload's record or an error wrapping domain.ErrNotFound.
func (h UploadHandler) Handle(ctx context.Context, id string) (*domain.Upload, error) {
	return h.read.Upload(ctx, id)
}

// DefaultPoll bounds how late a wait notices a change made by another
// process that nobody told this one of (replicas tell each other: see
// infra/postgres Listen).
const DefaultPoll = 500 * time.Millisecond

// UploadWait is a wait for one upload's outcome that began before anything
// could change the upload (see Watch).
type UploadWait struct {
	h     UploadHandler
	id    string
	watch *domain.Watch
	stop  func()
	// fresh: nothing could have changed before the watch, so there is
	// nothing to read until the first change.
	fresh bool
}

// Watch begins waiting for upload id before it is sent: every change from
// now on wakes the wait, which then needs no read to start from. Stop it
// when done (Await does).
func (h UploadHandler) Watch(id string) *UploadWait {
	w, stop := h.notifier.Watch(id)
	return &UploadWait{h: h, id: id, watch: w, stop: stop, fresh: true}
}

// Stop ends the wait.
func (w *UploadWait) Stop() { w.stop() }

// Await returns the upload's record once it is placed or failed, or its
// latest record when ctx ends first (then with ctx's error). An upload this
// service has not heard of yet counts as receiving.
func (h UploadHandler) Await(ctx context.Context, id string) (*domain.Upload, error) {
	w, stop := h.notifier.Watch(id)
	return (&UploadWait{h: h, id: id, watch: w, stop: stop}).Await(ctx)
}

// Await is UploadHandler.Await for a wait that began with Watch. The
// committed records the store hands the notifier (domain.Notifier.Committed)
// answer it without reading the database; other changes are read.
func (w *UploadWait) Await(ctx context.Context) (*domain.Upload, error) {
	defer w.stop()
	tick := time.NewTicker(w.h.poll)
	defer tick.Stop()
	u := domain.NewUpload(w.id)
	var err error
	if !w.fresh {
		if u, err = w.read(ctx); err != nil {
			return u, err
		}
	}
	for !u.Done() {
		select {
		case <-w.watch.Changed():
			if latest, ok := w.watch.Latest(); ok {
				u = latest
				continue
			}
		case <-tick.C:
		case <-ctx.Done():
			return u, ctx.Err()
		}
		if u, err = w.read(ctx); err != nil {
			return u, err
		}
	}
	return u, nil
}

// read reads the upload; one not heard of yet is receiving.
func (w *UploadWait) read(ctx context.Context) (*domain.Upload, error) {
	u, err := w.h.read.Upload(ctx, w.id)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return domain.NewUpload(w.id), nil
	case err != nil && ctx.Err() != nil:
		return domain.NewUpload(w.id), ctx.Err()
	}
	return u, err
}
