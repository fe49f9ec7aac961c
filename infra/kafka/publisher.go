package kafka

import (
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/messages"
)

// Publisher is a Watermill publisher on Sarama's asynchronous producer.
//
// Publish keeps Watermill's promise: it returns once Kafka acknowledged
// every message (acks from all in-sync replicas) or one failed. What it adds
// over watermill-kafka's publisher, which sends one message at a time
// through a sync producer and waits a full round trip for each, is that
// concurrent Publish calls share the producer: messages queue in one
// ordered input, and Sarama batches what queued while its previous request
// was out. A caller that needs order across its own concurrent calls (the
// messages.Sender, streaming chunks) learns through messages.NotifyQueued
// when a message holds its place in line, and only then publishes the next.
//
// The order is kept because the input is taken in turn (a mutex) and the
// producer is idempotent with one request in flight per broker: Sarama
// keeps the input order per partition, retries included, and the broker
// rejects a duplicate or out-of-sequence batch.
type Publisher struct {
	producer  sarama.AsyncProducer
	marshaler wkafka.Marshaler
	logger    watermill.LoggerAdapter

	mu     sync.Mutex // held while queueing one call's messages
	closed bool
	done   sync.WaitGroup // the goroutines that route results
}

// errPublisherClosed is returned by Publish after Close.
var errPublisherClosed = errors.New("publisher closed")

// NewPublisher returns a Publisher keyed by messages.PartitionKey.
func NewPublisher(config Config, logger watermill.LoggerAdapter) (*Publisher, error) {
	sc, err := config.PublisherConfig()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	producer, err := sarama.NewAsyncProducer(config.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("cannot create Kafka producer: %w", err)
	}
	p := &Publisher{
		producer:  producer,
		marshaler: wkafka.NewWithPartitioningMarshaler(messages.PartitionKey),
		logger:    logger,
	}
	p.done.Add(2)
	go func() {
		defer p.done.Done()
		for m := range producer.Successes() {
			m.Metadata.(chan error) <- nil
		}
	}()
	go func() {
		defer p.done.Done()
		for e := range producer.Errors() {
			e.Msg.Metadata.(chan error) <- e.Err
		}
	}()
	return p, nil
}

// Publish queues msgs in order, then waits until Kafka acknowledged them
// all. It returns the first failure; a message whose context ends stops
// the wait (the message may still be delivered).
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	out := make([]*sarama.ProducerMessage, len(msgs))
	for i, msg := range msgs {
		km, err := p.marshaler.Marshal(topic, msg)
		if err != nil {
			return fmt.Errorf("cannot marshal message %s: %w", msg.UUID, err)
		}
		out[i] = km
	}
	// Buffered for every message, so the result goroutines never block on
	// a caller that stopped waiting.
	results := make(chan error, len(msgs))
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errPublisherClosed
	}
	for _, km := range out {
		km.Metadata = results
		p.producer.Input() <- km
	}
	p.mu.Unlock()
	for _, msg := range msgs {
		messages.NotifyQueued(msg.Context())
	}

	var first error
	for i, msg := range msgs {
		select {
		case err := <-results:
			if err != nil && first == nil {
				first = fmt.Errorf("cannot produce message %s: %w", msgs[i].UUID, err)
			}
		case <-msg.Context().Done():
			if first == nil {
				first = fmt.Errorf("gave up waiting for Kafka to acknowledge message %s: %w", msg.UUID, msg.Context().Err())
			}
			return first
		}
	}
	return first
}

// Close flushes what is queued and stops the producer.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	// AsyncClose, not Close: Close would read the result channels itself,
	// and a waiting Publish would never hear its result.
	p.producer.AsyncClose()
	p.done.Wait()
	return nil
}

var _ message.Publisher = (*Publisher)(nil)
