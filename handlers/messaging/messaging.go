// Package messaging is a service's Kafka port: a Watermill router whose CQRS
// command and event processors hand each message of the public contract to
// its use case in app/command, and the command and event buses the use cases
// and the HTTP port publish through.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// RouterConfig configures a service's router.
type RouterConfig struct {
	// Self is the service the router runs in.
	Self messages.Service
	// GroupPrefix starts every consumer group name: <prefix>-<service>.<handler>.
	// Default "baum". Renaming it makes the service read every topic again.
	GroupPrefix string
	// MaxRetries is how many times a failing message is retried in process
	// before it is poisoned (or, for a passing failure, delivered again
	// later). A malformed message is never retried: its bytes will not
	// change. Default 3.
	MaxRetries int
	// RetryInterval is the first retry's back-off; it doubles up to
	// MaxRetryInterval. Default 100 ms.
	RetryInterval time.Duration
	// MaxRetryInterval caps the back-off. Default 2 s.
	MaxRetryInterval time.Duration
	// CloseTimeout bounds how long Close waits for handlers. Default 30 s.
	CloseTimeout time.Duration
	// OnPoisoned is told of each message sent to the poison topic (for metrics).
	OnPoisoned func(topic, handler string)
}

func (c *RouterConfig) setDefaults() {
	if c.GroupPrefix == "" {
		c.GroupPrefix = "baum"
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.MaxRetryInterval == 0 {
		c.MaxRetryInterval = 2 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.OnPoisoned == nil {
		c.OnPoisoned = func(string, string) {}
	}
}

// Validate reports every bad field.
func (c RouterConfig) Validate() error {
	var errs []error
	if _, err := messages.ParseService(string(c.Self)); err != nil {
		errs = append(errs, err)
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("MaxRetries %d is negative", c.MaxRetries))
	}
	if c.RetryInterval < 0 || c.MaxRetryInterval < c.RetryInterval {
		errs = append(errs, fmt.Errorf("RetryInterval %s must be from 0 to MaxRetryInterval %s", c.RetryInterval, c.MaxRetryInterval))
	}
	return errors.Join(errs...)
}

// Handlers are the use cases the router feeds.
type Handlers struct {
	StageChunk  *command.StageChunkHandler
	AbortUpload *command.AbortUploadHandler
	DeleteFile  *command.DeleteFileHandler
	PlaceFile   *command.PlaceFileHandler
	Outcome     *command.RecordOutcomeHandler
}

// SubscriberFactory returns a subscriber in the named consumer group.
type SubscriberFactory func(group string) (message.Subscriber, error)

// Handler names, which also end the consumer group names.
const (
	HandlerStoreChunk  = "store-chunk"
	HandlerAbortUpload = "abort-upload"
	HandlerDeleteFile  = "delete-file"
	HandlerEvents      = "events"
)

// GroupName returns the consumer group of a handler.
func GroupName(prefix string, self messages.Service, handler string) string {
	return fmt.Sprintf("%s-%s.%s", prefix, self, handler)
}

// NewRouter returns a router, not yet running, with BAUM's middleware and the
// handlers registered. pub publishes poisoned messages.
func NewRouter(config RouterConfig, h Handlers, pub message.Publisher, subscribe SubscriberFactory, wlog watermill.LoggerAdapter, log *slog.Logger) (*message.Router, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	wlog = correlatedLogger{wlog}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: config.CloseTimeout}, wlog)
	if err != nil {
		return nil, err
	}
	poison, err := middleware.PoisonQueueWithFilter(pub, messages.TopicPoison, Poisonous)
	if err != nil {
		return nil, err
	}
	// Outermost first. The poison queue sits outside the retries so that it
	// sees an error only once they are spent; the type check sits inside
	// them so that what it refuses is annotated like any other poison.
	router.AddMiddleware(
		withCorrelation,
		logPoisoned(log, config.OnPoisoned),
		poison,
		retry(config, log),
		knownMessages,
		correlateErrors,
		middleware.CorrelationID,
		middleware.Recoverer,
	)

	marshaler := messages.Marshaler{}
	commands, err := cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return topicFor(p.CommandName)
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return subscribe(GroupName(config.GroupPrefix, config.Self, p.HandlerName))
		},
		Marshaler: marshaler,
		Logger:    wlog,
	})
	if err != nil {
		return nil, err
	}
	if err := commands.AddHandlers(
		cqrs.NewCommandHandler(HandlerStoreChunk, h.StageChunk.Handle),
		cqrs.NewCommandHandler(HandlerAbortUpload, h.AbortUpload.Handle),
		cqrs.NewCommandHandler(HandlerDeleteFile, h.DeleteFile.Handle),
	); err != nil {
		return nil, err
	}

	// One group processor for all events: one subscription, one consumer
	// group, so an upload's events are handled in the order they happened.
	events, err := cqrs.NewEventGroupProcessorWithConfig(router, cqrs.EventGroupProcessorConfig{
		GenerateSubscribeTopic: func(cqrs.EventGroupProcessorGenerateSubscribeTopicParams) (string, error) {
			return messages.TopicEvents, nil
		},
		SubscriberConstructor: func(p cqrs.EventGroupProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return subscribe(GroupName(config.GroupPrefix, config.Self, p.EventGroupName))
		},
		// An event nobody handles is an error, so it reaches the poison queue.
		AckOnUnknownEvent: false,
		Marshaler:         marshaler,
		Logger:            wlog,
	})
	if err != nil {
		return nil, err
	}
	if err := events.AddHandlersGroup(HandlerEvents,
		cqrs.NewGroupEventHandler(h.PlaceFile.Handle),
		cqrs.NewGroupEventHandler(h.Outcome.FileStored),
		cqrs.NewGroupEventHandler(h.Outcome.UploadFailed),
		cqrs.NewGroupEventHandler(h.Outcome.FileDeleted),
	); err != nil {
		return nil, err
	}
	return router, nil
}

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

// retry handles a failing message again in process, up to MaxRetries times,
// waiting RetryInterval before the first retry and twice as long before each
// next one (up to MaxRetryInterval): a database that blinks or a lock that
// frees lets it through without a redelivery. It blocks the message's
// partition meanwhile, which keeps the upload's messages in order.
//
// Each failed attempt is logged with the message's identity and the wait
// before the next. A malformed message is not retried. A message that still
// fails leaves with the number of attempts and the service's name in its
// headers, which the poison queue keeps.
func retry(config RouterConfig, log *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := msg.Context()
			delay := config.RetryInterval
			for attempt := 1; ; attempt++ {
				out, err := h(msg)
				if err == nil {
					return out, nil
				}
				if ctx.Err() != nil {
					// Stopping: whatever failed, the message is delivered
					// again after the restart, never poisoned.
					return out, fmt.Errorf("%w (while stopping: %w)", err, ctx.Err())
				}
				if attempt > config.MaxRetries || errors.Is(err, messages.ErrMalformed) {
					if Poisonous(err) {
						msg.Metadata.Set(messages.HeaderAttemptsPoisoned, strconv.Itoa(attempt))
						msg.Metadata.Set(messages.HeaderServicePoisoned, string(config.Self))
					}
					return out, err
				}
				log.WarnContext(ctx, "message failed; retrying", "message_uuid", msg.UUID,
					"name", msg.Metadata.Get(messages.HeaderName), "topic", message.SubscribeTopicFromCtx(ctx),
					"handler", message.HandlerNameFromCtx(ctx), "attempt", attempt, "retry_in", delay.String(), "error", err)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				delay = min(2*delay, config.MaxRetryInterval)
			}
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
