// Package messaging is a service's Kafka port: a Watermill router whose CQRS
// command and event processors hand each message of the public contract to
// its use case in app/command, the middleware that retries, poisons and
// correlates, and the event bus the use cases publish through.
package messaging

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/baum-store/baum/app"
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

// Groups returns the consumer groups of service self, each with the topic
// it consumes.
func Groups(prefix string, self messages.Service) map[string]string {
	return map[string]string{
		GroupName(prefix, self, HandlerStoreChunk):  messages.TopicStoreChunk,
		GroupName(prefix, self, HandlerAbortUpload): messages.TopicAbortUpload,
		GroupName(prefix, self, HandlerDeleteFile):  messages.TopicDeleteFile,
		GroupName(prefix, self, HandlerEvents):      messages.TopicEvents,
	}
}

// NewRouter returns a router, not yet running, with BAUM's middleware and the
// use cases in commands registered. pub publishes poisoned messages.
func NewRouter(config RouterConfig, commands app.Commands, pub message.Publisher, subscribe SubscriberFactory, wlog watermill.LoggerAdapter, log *slog.Logger) (*message.Router, error) {
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
		retryInProcess(config, log),
		knownMessages,
		correlateErrors,
		middleware.CorrelationID,
		middleware.Recoverer,
	)
	if err := addCommandHandlers(router, config, commands, subscribe, wlog); err != nil {
		return nil, err
	}
	if err := addEventHandlers(router, config, commands, subscribe, wlog); err != nil {
		return nil, err
	}
	return router, nil
}

// addCommandHandlers feeds each command topic to its use case, each in a
// consumer group of its own.
func addCommandHandlers(router *message.Router, config RouterConfig, commands app.Commands, subscribe SubscriberFactory, wlog watermill.LoggerAdapter) error {
	processor, err := cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return topicFor(p.CommandName)
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return subscribe(GroupName(config.GroupPrefix, config.Self, p.HandlerName))
		},
		Marshaler: messages.Marshaler{},
		Logger:    wlog,
	})
	if err != nil {
		return err
	}
	return processor.AddHandlers(
		cqrs.NewCommandHandler(HandlerStoreChunk, commands.StageChunk.Handle),
		cqrs.NewCommandHandler(HandlerAbortUpload, commands.AbortUpload.Handle),
		cqrs.NewCommandHandler(HandlerDeleteFile, commands.DeleteFile.Handle),
	)
}

// addEventHandlers feeds every event to its use case through one group
// processor: one subscription, one consumer group, so an upload's events are
// handled in the order they happened.
func addEventHandlers(router *message.Router, config RouterConfig, commands app.Commands, subscribe SubscriberFactory, wlog watermill.LoggerAdapter) error {
	processor, err := cqrs.NewEventGroupProcessorWithConfig(router, cqrs.EventGroupProcessorConfig{
		GenerateSubscribeTopic: func(cqrs.EventGroupProcessorGenerateSubscribeTopicParams) (string, error) {
			return messages.TopicEvents, nil
		},
		SubscriberConstructor: func(p cqrs.EventGroupProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return subscribe(GroupName(config.GroupPrefix, config.Self, p.EventGroupName))
		},
		// An event nobody handles is an error, so it reaches the poison queue.
		AckOnUnknownEvent: false,
		Marshaler:         messages.Marshaler{},
		Logger:            wlog,
	})
	if err != nil {
		return err
	}
	return processor.AddHandlersGroup(HandlerEvents,
		cqrs.NewGroupEventHandler(commands.PlaceFile.Handle),
		cqrs.NewGroupEventHandler(commands.RecordStored.Handle),
		cqrs.NewGroupEventHandler(commands.RecordFailure.Handle),
		cqrs.NewGroupEventHandler(commands.RecordDeleted.Handle),
	)
}

// NewEventBus returns an event bus that publishes the contract's events to
// TopicEvents with the correlation id of the message being handled (the
// router's CorrelationID middleware only tags messages a handler returns;
// CQRS handlers publish through the bus, so the bus tags them).
func NewEventBus(pub message.Publisher, wlog watermill.LoggerAdapter) (*cqrs.EventBus, error) {
	return cqrs.NewEventBusWithConfig(pub, cqrs.EventBusConfig{
		GeneratePublishTopic: func(cqrs.GenerateEventPublishTopicParams) (string, error) {
			return messages.TopicEvents, nil
		},
		OnPublish: func(p cqrs.OnEventSendParams) error {
			messages.TagCorrelationID(p.Message)
			return nil
		},
		Marshaler: messages.Marshaler{},
		Logger:    wlog,
	})
}
