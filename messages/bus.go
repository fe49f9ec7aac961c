package messages

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// CommandBusConfig returns the configuration of a Watermill command bus that
// sends the contract's commands the way the services expect them: each to
// its topic (TopicFor), encoded by Marshaler, with a correlation_id header.
// Adjust it before passing it to cqrs.NewCommandBusWithConfig if you need to
// (say, to wrap OnSend); the topic and the marshaler must stay.
//
// The publisher behind the bus must key each Kafka record by PartitionKey,
// so that the chunks of one upload stay in order; kafkaclient.NewPublisher
// does.
func CommandBusConfig(logger watermill.LoggerAdapter) cqrs.CommandBusConfig {
	return cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			if t := TopicFor(p.CommandName); t != "" {
				return t, nil
			}
			return "", fmt.Errorf("no topic for message %q", p.CommandName)
		},
		OnSend: func(p cqrs.CommandBusOnSendParams) error {
			TagCorrelationID(p.Message)
			return nil
		},
		Marshaler: Marshaler{},
		Logger:    logger,
	}
}

// NewCommandBus returns a command bus configured by CommandBusConfig that
// publishes through pub.
func NewCommandBus(pub message.Publisher, logger watermill.LoggerAdapter) (*cqrs.CommandBus, error) {
	return cqrs.NewCommandBusWithConfig(pub, CommandBusConfig(logger))
}

// TagCorrelationID sets msg's correlation_id header from the context it is
// sent with: the id set by WithCorrelationID, else the id of the message
// being handled (inside a Watermill handler), else a new one.
func TagCorrelationID(msg *message.Message) {
	ctx := msg.Context()
	id := CorrelationIDFromContext(ctx)
	if id == "" {
		if orig := cqrs.OriginalMessageFromCtx(ctx); orig != nil {
			id = middleware.MessageCorrelationID(orig)
		}
	}
	if id == "" {
		id = watermill.NewUUID()
	}
	middleware.SetCorrelationID(id, msg)
}
