package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// errInvalidEvent is a bug in this service, never the broker's fault.
var errInvalidEvent = errors.New("refusing to publish an invalid event")

// publish publishes an event; a failure to do so is the broker's, so the
// message that led here is retried rather than poisoned.
func publish(ctx context.Context, events EventPublisher, event messages.Message) error {
	if err := event.Validate(); err != nil {
		return fmt.Errorf("%w: %s: %w", errInvalidEvent, event.MessageName(), err)
	}
	if err := events.Publish(ctx, event); err != nil {
		return fmt.Errorf("%w: publish %T: %w", domain.ErrUnavailable, event, err)
	}
	return nil
}
