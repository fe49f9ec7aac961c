package query

import (
	"context"
	"errors"
	"time"

	"github.com/baum-store/baum/app/domain"
)

// FileHandler answers for one held file.
type FileHandler struct {
	read     ReadModel
	notifier *domain.Notifier
	poll     time.Duration
}

// NewFileHandler returns a FileHandler. AwaitGone wakes up on notifier's
// signals (a delete handled in this process) and, failing those, on a poll.
func NewFileHandler(read ReadModel, notifier *domain.Notifier) FileHandler {
	if notifier == nil {
		notifier = domain.NewNotifier()
	}
	return FileHandler{read: read, notifier: notifier, poll: DefaultPoll}
}

// WithPoll returns the handler with waits that read the file again every
// poll when nothing wakes them.
func (h FileHandler) WithPoll(poll time.Duration) FileHandler {
	h.poll = poll
	return h
}

// Handle returns the file's metadata or an error wrapping domain.ErrNotFound.
func (h FileHandler) Handle(ctx context.Context, id string) (domain.File, error) {
	return h.read.File(ctx, id)
}

// AwaitGone returns nil once this service no longer holds file id, or ctx's
// error if it still does when ctx ends. A delete is a command handled by the
// message router, so the HTTP request that sent it waits here for its effect.
func (h FileHandler) AwaitGone(ctx context.Context, id string) error {
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	w, stop := h.notifier.Watch(id)
	defer stop()
	for {
		// Any other error (the database having trouble) may heal before
		// the deadline: keep waiting.
		if _, err := h.read.File(ctx, id); errors.Is(err, domain.ErrNotFound) {
			return nil
		}
		select {
		case <-w.Changed():
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
