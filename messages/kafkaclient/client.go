package kafkaclient

import (
	"errors"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/baum-store/baum/messages"
)

// Client is a messages.Client with Kafka connections of its own: a
// publisher behind a command bus configured by messages.CommandBusConfig,
// and an event subscriber from NewEventSubscriber for the waits. Close it
// when done.
type Client struct {
	*messages.Client
	publisher *kafka.Publisher
	events    *kafka.Subscriber
}

// New connects to Kafka and returns a Client. It fails if no broker answers.
// logger may be nil.
func New(config Config, client messages.ClientConfig, logger watermill.LoggerAdapter) (*Client, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if client.Logger == nil {
		client.Logger = logger
	}
	if err := client.Validate(); err != nil {
		return nil, err
	}
	publisher, err := NewPublisher(config, logger)
	if err != nil {
		return nil, err
	}
	c := &Client{publisher: publisher}
	if c.events, err = NewEventSubscriber(config, logger); err != nil {
		publisher.Close()
		return nil, err
	}
	bus, err := messages.NewCommandBus(publisher, logger)
	if err == nil {
		c.Client, err = messages.NewClient(client, bus, c.events)
	}
	if err != nil {
		c.events.Close()
		publisher.Close()
		return nil, err
	}
	return c, nil
}

// Close stops the waits and closes the connections.
func (c *Client) Close() error {
	return errors.Join(c.Client.Close(), c.events.Close(), c.publisher.Close())
}
