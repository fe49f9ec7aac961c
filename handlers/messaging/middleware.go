package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/internal/retry"
	"github.com/baum-store/baum/messages"
)

// Poisonous tells a message that can never succeed from one that met a
// passing failure (database or broker down) or a shutdown: only the former
// goes to the poison topic, the others are delivered again.
func Poisonous(err error) bool {
	return !errors.Is(err, domain.ErrUnavailable) && !errors.Is(err, context.Canceled)
}

func topicFor(name string) (string, error) {
	if t := messages.TopicFor(name); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("no topic for message %q", name)
}

// withCorrelation puts the message's correlation id into its context, where
// the logger and the buses find it.
func withCorrelation(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if id := middleware.MessageCorrelationID(msg); id != "" {
			msg.SetContext(messages.WithCorrelationID(msg.Context(), id))
		}
		return h(msg)
	}
}

// knownMessages fails, for the poison queue, a message whose name this
// version does not know or that arrived on a topic not its own. The CQRS
// command processor alone would ack such a message without a word.
func knownMessages(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name := msg.Metadata.Get(messages.HeaderName)
		topic := message.SubscribeTopicFromCtx(msg.Context())
		switch want := messages.TopicFor(name); {
		case name == "":
			return nil, fmt.Errorf("%w: no %q header", messages.ErrMalformed, messages.HeaderName)
		case want == "":
			return nil, fmt.Errorf("%w: unknown message type %q", messages.ErrMalformed, name)
		case want != topic:
			return nil, fmt.Errorf("%w: %s belongs on topic %s, not %s", messages.ErrMalformed, name, want, topic)
		}
		return h(msg)
	}
}

// retryInProcess handles a failing message again in process, up to MaxRetries times,
// waiting RetryInterval before the first retry and twice as long before each
// next one (up to MaxRetryInterval): a database that blinks or a lock that
// frees lets it through without a redelivery. It blocks the message's
// partition meanwhile, which keeps the upload's messages in order.
//
// Each failed attempt is logged with the message's identity and the wait
// before the next. A malformed message is not retried. A message that still
// fails leaves with the number of attempts and the service's name in its
// headers, which the poison queue keeps.
func retryInProcess(config RouterConfig, log *slog.Logger) message.HandlerMiddleware {
	policy := retry.Policy{First: config.RetryInterval, Max: config.MaxRetryInterval, Tries: config.MaxRetries + 1}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := msg.Context()
			var out []*message.Message
			attempts := 0
			err := retry.Do(ctx, policy, func() (err error) {
				attempts++
				out, err = h(msg)
				switch {
				case err == nil:
					return nil
				case ctx.Err() != nil:
					// Stopping: whatever failed, the message is delivered
					// again after the restart, never poisoned.
					return retry.Permanent(fmt.Errorf("%w (while stopping: %w)", err, ctx.Err()))
				case errors.Is(err, messages.ErrMalformed):
					return retry.Permanent(err)
				}
				return err
			}, func(attempt int, err error, wait time.Duration) {
				log.WarnContext(ctx, "message failed; retrying", "message_uuid", msg.UUID,
					"name", msg.Metadata.Get(messages.HeaderName), "topic", message.SubscribeTopicFromCtx(ctx),
					"handler", message.HandlerNameFromCtx(ctx), "attempt", attempt, "retry_in", wait.String(), "error", err)
			})
			if err != nil && Poisonous(err) {
				msg.Metadata.Set(messages.HeaderAttemptsPoisoned, strconv.Itoa(attempts))
				msg.Metadata.Set(messages.HeaderServicePoisoned, string(config.Self))
			}
			return out, err
		}
	}
}

// logPoisoned logs and counts each message on its way to the poison topic.
func logPoisoned(log *slog.Logger, onPoisoned func(topic, handler string)) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if reason := msg.Metadata.Get(middleware.ReasonForPoisonedKey); err == nil && reason != "" {
				onPoisoned(message.SubscribeTopicFromCtx(msg.Context()), message.HandlerNameFromCtx(msg.Context()))
				log.ErrorContext(msg.Context(), "message poisoned", "message_uuid", msg.UUID,
					"name", msg.Metadata.Get(messages.HeaderName), "topic", message.SubscribeTopicFromCtx(msg.Context()),
					"handler", message.HandlerNameFromCtx(msg.Context()), "attempts", msg.Metadata.Get(messages.HeaderAttemptsPoisoned),
					"reason", reason)
			}
			return out, err
		}
	}
}

// correlatedError is a handler's error with the correlation id of the
// message it failed on. Watermill logs handler errors (each retry, and
// the error the router nacks) without the message's context; carried in
// the error, the id reaches those lines through correlatedLogger.
type correlatedError struct {
	err error
	id  string
}

func (e correlatedError) Error() string { return e.err.Error() }
func (e correlatedError) Unwrap() error { return e.err }

// correlateErrors wraps a handler's error in a correlatedError.
func correlateErrors(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil {
			if id := messages.CorrelationIDFromContext(msg.Context()); id != "" {
				err = correlatedError{err: err, id: id}
			}
		}
		return out, err
	}
}

// correlatedLogger adds the correlation id of a correlatedError to
// Watermill's error lines.
type correlatedLogger struct{ watermill.LoggerAdapter }

func (l correlatedLogger) Error(msg string, err error, fields watermill.LogFields) {
	var ce correlatedError
	if errors.As(err, &ce) {
		fields = fields.Add(watermill.LogFields{"correlation_id": ce.id})
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l correlatedLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return correlatedLogger{l.LoggerAdapter.With(fields)}
}
