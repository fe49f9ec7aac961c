package messaging

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/messages"
)

// NewCommandBus returns a command bus that sends the contract's commands to
// their topics with the sender's correlation id: the very bus other programs
// build from the public contract (messages.CommandBusConfig).
func NewCommandBus(pub message.Publisher, wlog watermill.LoggerAdapter) (*cqrs.CommandBus, error) {
	return messages.NewCommandBus(pub, wlog)
}

// NewEventBus returns an event bus that publishes the contract's events with
// the correlation id of the message being handled.
func NewEventBus(pub message.Publisher, wlog watermill.LoggerAdapter) (*cqrs.EventBus, error) {
	return cqrs.NewEventBusWithConfig(pub, cqrs.EventBusConfig{
		GeneratePublishTopic: func(cqrs.GenerateEventPublishTopicParams) (string, error) {
			return messages.TopicEvents, nil
		},
		OnPublish: func(p cqrs.OnEventSendParams) error {
			setCorrelationID(p.Message)
			return nil
		},
		Marshaler: messages.Marshaler{},
		Logger:    wlog,
	})
}

// setCorrelationID copies the correlation id from the context the message
// is sent with: the HTTP request's, or the handled message's. The router's
// CorrelationID middleware only tags messages a handler returns; CQRS
// handlers publish through the buses, so the buses tag them here.
func setCorrelationID(msg *message.Message) { messages.TagCorrelationID(msg) }
