// Package kafka connects a BAUM service to Kafka through Sarama: consumer
// groups through watermill-kafka's subscriber, publishing through a
// Watermill publisher of our own on Sarama's asynchronous producer (see
// Publisher), with the settings that keep messages from being lost: acks
// from all in-sync replicas, an idempotent producer, new consumer groups
// starting from the oldest offset, and small prefetch buffers so memory does
// not grow with the size of the files passing through. The settings
// themselves are public (messages/kafkaclient), shared with outside programs;
// this package adds what only a service needs: the pipelining publisher, the
// readiness probe and quiet Sarama metrics.
package kafka

import (
	"context"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	gometrics "github.com/rcrowley/go-metrics"

	"github.com/baum-store/baum/messages/kafkaclient"
)

func init() {
	// Sarama's built-in go-metrics histograms cost CPU and memory on every
	// request and nothing reads them; the service exports its own metrics.
	gometrics.UseNilMetrics = true
}

// Config configures the connection to Kafka. The settings live in the public
// package kafkaclient, so that outside programs connect exactly as the
// services do.
type Config = kafkaclient.Config

// TLSConfig and SASLConfig secure the connections; see kafkaclient.
type (
	TLSConfig  = kafkaclient.TLSConfig
	SASLConfig = kafkaclient.SASLConfig
)

// SASL mechanisms the services speak.
const (
	SASLPlain       = kafkaclient.SASLPlain
	SASLScramSHA256 = kafkaclient.SASLScramSHA256
	SASLScramSHA512 = kafkaclient.SASLScramSHA512
)

// NewSubscriber returns a Watermill subscriber in consumer group `group`: a
// static member if config has an InstanceID, which leaves the group when it
// is closed (see staticSubscriber).
func NewSubscriber(config Config, group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	sub, err := kafkaclient.NewSubscriber(config, group, logger)
	switch {
	case err != nil:
		return nil, err
	case config.InstanceID == "":
		return sub, nil
	}
	return &staticSubscriber{Subscriber: sub, config: config, group: group}, nil
}

// Probe checks that the brokers answer, for readiness.
type Probe struct {
	mu     sync.Mutex
	client sarama.Client
	config Config

	lagCache lagCache
}

// NewProbe returns a Probe. It does not need the brokers to be up.
func NewProbe(config Config) *Probe { return &Probe{config: config} }

// Check asks the cluster for its metadata.
func (p *Probe) Check(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- p.check() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Probe) check() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	client, err := p.connect()
	if err != nil {
		return err
	}
	if err := client.RefreshMetadata(); err != nil {
		client.Close()
		return fmt.Errorf("%s: %w", p.config.Describe(), err)
	}
	return nil
}

// connect returns the probe's client, connecting it first if it is not
// (or no longer) connected. The caller holds p.mu.
func (p *Probe) connect() (sarama.Client, error) {
	if p.client != nil && !p.client.Closed() {
		return p.client, nil
	}
	sc, err := p.config.SaramaConfig()
	if err != nil {
		return nil, err
	}
	sc.Metadata.Retry.Max = 0
	client, err := sarama.NewClient(p.config.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.config.Describe(), err)
	}
	p.client = client
	return client, nil
}

// Close closes the probe's connection.
func (p *Probe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil && !p.client.Closed() {
		return p.client.Close()
	}
	return nil
}
