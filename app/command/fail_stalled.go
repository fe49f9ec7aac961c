package command

import (
	"context"
	"fmt"
	"time"

	"github.com/baum-store/baum/messages"
)

// StalledUploads finds uploads whose chunks stopped coming.
type StalledUploads interface {
	// Stalled lists uploads still receiving whose record has not changed for
	// at least the given age in seconds.
	Stalled(ctx context.Context, olderThanSeconds float64) ([]string, error)
}

// FailStalledHandler fails uploads whose sender died midway without
// aborting: their chunks stopped coming, and their staged bytes would stay
// forever.
type FailStalledHandler struct {
	self    messages.Service
	uploads StalledUploads
	events  EventPublisher
}

// NewFailStalledHandler returns a FailStalledHandler.
func NewFailStalledHandler(self messages.Service, uploads StalledUploads, events EventPublisher) FailStalledHandler {
	return FailStalledHandler{self: self, uploads: uploads, events: events}
}

// Handle publishes UploadFailed for every upload that has been receiving
// without progress for at least maxIdle. It returns how many it failed.
func (h FailStalledHandler) Handle(ctx context.Context, maxIdle time.Duration) (int, error) {
	ids, err := h.uploads.Stalled(ctx, maxIdle.Seconds())
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := publish(ctx, h.events, messages.UploadFailed{UploadID: id, Service: h.self, Reason: messages.ReasonStalled,
			Detail: fmt.Sprintf("no chunk arrived for %s", maxIdle), At: time.Now().UTC()}); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}
