// Package kafka connects a BAUM service to Kafka through watermill-kafka and
// Sarama, with the settings that keep messages from being lost: acks from all
// in-sync replicas, an idempotent producer, new consumer groups starting from
// the oldest offset, and small prefetch buffers so memory does not grow with
// the size of the files passing through.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	gometrics "github.com/rcrowley/go-metrics"

	"github.com/baum-store/baum/messages"
)

func init() {
	// Sarama's built-in go-metrics histograms cost CPU and memory on every
	// request and nothing reads them; the service exports its own metrics.
	gometrics.UseNilMetrics = true
}

// Config configures the connection to Kafka.
type Config struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	// ClientID names this client to the brokers. Default "baum".
	ClientID string
	// Version is the Kafka protocol version to speak. Default 3.6.0, which
	// Kafka 3.x and 4.x brokers accept (4.x dropped the pre-2.1 formats
	// watermill-kafka would otherwise use).
	Version string
	// DialTimeout bounds connecting to a broker. Default 5 s.
	DialTimeout time.Duration
	// PrefetchMessages is how many messages per partition the consumer reads
	// ahead of the handler. Default 4. Memory per partition is at most about
	// this many chunks.
	PrefetchMessages int
	// NackResendSleep is how long a message whose handler failed with a
	// passing error waits before it is delivered again. Default 500 ms.
	NackResendSleep time.Duration
}

func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "baum"
	}
	if c.Version == "" {
		c.Version = "3.6.0"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.PrefetchMessages == 0 {
		c.PrefetchMessages = 4
	}
	if c.NackResendSleep == 0 {
		c.NackResendSleep = 500 * time.Millisecond
	}
}

// Validate reports every bad field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers"))
	}
	for _, b := range c.Brokers {
		if i := strings.LastIndexByte(b, ':'); i <= 0 || i == len(b)-1 {
			errs = append(errs, fmt.Errorf("Kafka broker %q is not host:port", b))
		}
	}
	if c.Version != "" {
		if _, err := sarama.ParseKafkaVersion(c.Version); err != nil {
			errs = append(errs, fmt.Errorf("Kafka version %q: %w", c.Version, err))
		}
	}
	if c.PrefetchMessages < 0 {
		errs = append(errs, fmt.Errorf("prefetch %d is negative", c.PrefetchMessages))
	}
	return errors.Join(errs...)
}

// readTimeout bounds the wait for any answer from a broker; rebalanceTimeout
// is how long a consumer group waits for its members to rejoin (and how long
// a member has to finish its in-flight messages when its partitions are
// taken away). See SubscriberConfig for why the second must be the smaller.
const (
	readTimeout      = 30 * time.Second
	rebalanceTimeout = 20 * time.Second
)

func (c Config) base() (*sarama.Config, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sc := sarama.NewConfig()
	sc.Version, _ = sarama.ParseKafkaVersion(c.Version)
	sc.ClientID = c.ClientID
	sc.Net.DialTimeout = c.DialTimeout
	sc.Net.ReadTimeout = readTimeout
	sc.Net.WriteTimeout = 30 * time.Second
	sc.Metadata.Retry.Max = 5
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	return sc, nil
}

// PublisherConfig returns the Sarama settings of a publisher that loses
// nothing: every record waits for all in-sync replicas, and retries cannot
// duplicate or reorder (idempotent producer, one request in flight).
func (c Config) PublisherConfig() (*sarama.Config, error) {
	sc, err := c.base()
	if err != nil {
		return nil, err
	}
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.MaxMessageBytes = 1000000
	return sc, nil
}

// SubscriberConfig returns the Sarama settings of a consumer group member.
func (c Config) SubscriberConfig() (*sarama.Config, error) {
	sc, err := c.base()
	if err != nil {
		return nil, err
	}
	c.setDefaults()
	sc.Consumer.Return.Errors = true
	// A new group must not skip what was published before it first joined.
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = time.Second
	// The group coordinator may hold a JoinGroup for up to the rebalance
	// timeout while it waits for members that died without leaving. Sarama
	// waits Net.ReadTimeout for every answer, JoinGroup included (the Java
	// client waits rebalance timeout + 5 s); with Sarama's defaults (60 s
	// rebalance, 30 s read) a member gives up on its join and sends it again,
	// which restarts the coordinator's wait, and a group with a member that
	// was killed in the middle of joining never forms again. Keep the
	// rebalance timeout well under the read timeout.
	sc.Consumer.Group.Rebalance.Timeout = rebalanceTimeout
	sc.ChannelBufferSize = c.PrefetchMessages
	sc.Consumer.Fetch.Default = 1 << 20
	sc.Consumer.Fetch.Max = 4 << 20
	return sc, nil
}

// NewPublisher returns a Watermill publisher keyed by messages.PartitionKey.
func NewPublisher(config Config, logger watermill.LoggerAdapter) (message.Publisher, error) {
	sc, err := config.PublisherConfig()
	if err != nil {
		return nil, err
	}
	return wkafka.NewPublisher(wkafka.PublisherConfig{
		Brokers:               config.Brokers,
		Marshaler:             wkafka.NewWithPartitioningMarshaler(messages.PartitionKey),
		OverwriteSaramaConfig: sc,
	}, logger)
}

// NewSubscriber returns a Watermill subscriber in consumer group `group`.
func NewSubscriber(config Config, group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	sc, err := config.SubscriberConfig()
	if err != nil {
		return nil, err
	}
	config.setDefaults()
	return wkafka.NewSubscriber(wkafka.SubscriberConfig{
		Brokers:               config.Brokers,
		Unmarshaler:           wkafka.DefaultMarshaler{},
		OverwriteSaramaConfig: sc,
		ConsumerGroup:         group,
		NackResendSleep:       config.NackResendSleep,
		ReconnectRetrySleep:   time.Second,
	}, logger)
}

// Probe checks that the brokers answer, for readiness.
type Probe struct {
	mu     sync.Mutex
	client sarama.Client
	config Config
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
	if p.client == nil || p.client.Closed() {
		sc, err := p.config.base()
		if err != nil {
			return err
		}
		sc.Metadata.Retry.Max = 0
		client, err := sarama.NewClient(p.config.Brokers, sc)
		if err != nil {
			return err
		}
		p.client = client
	}
	if err := p.client.RefreshMetadata(); err != nil {
		p.client.Close()
		return err
	}
	return nil
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
