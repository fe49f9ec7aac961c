// Package kafkaclient connects a Go program to BAUM's Kafka through
// watermill-kafka and Sarama, with the settings every BAUM producer and
// consumer uses — the services themselves included:
//
//   - a publisher that loses nothing: acks from all in-sync replicas, an
//     idempotent producer with one request in flight, so retries neither
//     duplicate nor reorder chunks;
//   - Kafka records keyed by messages.PartitionKey, so one upload's chunks and
//     events stay in order in one partition;
//   - consumer groups that start from the oldest offset the first time they
//     join (Sarama's default, the newest, silently skips what came before);
//   - a protocol version that Kafka 3.x and 4.x both accept (watermill-kafka's
//     default, 1.0, is refused by Kafka 4).
//
// It imports nothing of BAUM but the public messages package, so an outside
// program can use it without pulling in the services. New returns a ready
// messages.Client; NewPublisher and NewEventSubscriber are the parts, for a
// program that builds its own command bus.
package kafkaclient

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/baum-store/baum/messages"
)

// readTimeout bounds the wait for any answer from a broker; rebalanceTimeout
// is how long a consumer group waits for its members to rejoin (and how long
// a member has to finish its in-flight messages when its partitions are
// taken away). See SubscriberConfig for why the second must be the smaller.
const (
	readTimeout      = 30 * time.Second
	rebalanceTimeout = 20 * time.Second
)

// heartbeatInterval is how often a consumer group member tells the
// coordinator it is alive, and learns of a rebalance.
const heartbeatInterval = time.Second

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
	// PrefetchMessages is how many messages per partition a consumer reads
	// ahead of its handler. Default 4. Memory per partition is at most about
	// this many chunks.
	PrefetchMessages int
	// NackResendSleep is how long a message whose handler failed with a
	// passing error waits before it is delivered again. Default 500 ms.
	NackResendSleep time.Duration
	// TLS encrypts every connection (publisher, subscribers, probes).
	// Default plaintext.
	TLS TLSConfig
	// SASL authenticates every connection. Default none.
	SASL SASLConfig
	// InstanceID, if set, makes every consumer group member a static member
	// (KIP-345) with the group instance id GroupInstanceID(group). A member
	// that restarts with the same id takes back its partitions at once; a
	// new dynamic member would wait for the dead one's session to time out
	// (10 s), stalling its partitions meanwhile. Keep it stable across
	// restarts and distinct between the processes that join one group (two
	// live members with one id fence each other out). Needs Version 2.3 or
	// newer. Default none: dynamic members.
	InstanceID string
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
	if c.InstanceID != "" {
		errs = append(errs, c.validateInstanceID())
	}
	if c.PrefetchMessages < 0 {
		errs = append(errs, fmt.Errorf("prefetch %d is negative", c.PrefetchMessages))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial timeout %s is negative", c.DialTimeout))
	}
	errs = append(errs, c.TLS.Validate(), c.SASL.Validate())
	return errors.Join(errs...)
}

// maxInstanceIDBytes leaves room in Kafka's 249 bytes of a group instance id
// for the group's name.
const maxInstanceIDBytes = 128

func (c Config) validateInstanceID() error {
	var errs []error
	if len(c.InstanceID) > maxInstanceIDBytes || strings.Trim(c.InstanceID, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-") != "" {
		errs = append(errs, fmt.Errorf("instance id %q: must be at most %d letters, digits, '.', '_' or '-'", c.InstanceID, maxInstanceIDBytes))
	}
	version := c.Version
	if version == "" {
		version = "3.6.0"
	}
	if v, err := sarama.ParseKafkaVersion(version); err == nil && !v.IsAtLeast(sarama.V2_3_0_0) {
		errs = append(errs, fmt.Errorf("instance id %q: static group membership needs Kafka version 2.3 or newer, not %s", c.InstanceID, version))
	}
	return errors.Join(errs...)
}

// GroupInstanceID is the static member id of this client in consumer group
// `group`: "<group>.<InstanceID>", unique per group and stable across
// restarts; "" (a dynamic member) without an InstanceID.
func (c Config) GroupInstanceID(group string) string {
	if c.InstanceID == "" {
		return ""
	}
	return group + "." + c.InstanceID
}

// SaramaConfig returns the Sarama settings every client shares: version,
// client id, timeouts, TLS and SASL. Tools and tests that talk to the same
// brokers start from it.
func (c Config) SaramaConfig() (*sarama.Config, error) {
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
	if err := c.secure(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// PublisherConfig returns the Sarama settings of a publisher that loses
// nothing: every record waits for all in-sync replicas, and retries cannot
// duplicate or reorder (idempotent producer, one request in flight).
func (c Config) PublisherConfig() (*sarama.Config, error) {
	sc, err := c.SaramaConfig()
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
	// Kafka's default limit; a chunk (at most messages.MaxChunkSize) and its
	// headers stay below it.
	sc.Producer.MaxMessageBytes = 1000000
	return sc, nil
}

// SubscriberConfig returns the Sarama settings of a consumer group member.
func (c Config) SubscriberConfig() (*sarama.Config, error) {
	sc, err := c.SaramaConfig()
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
	// A restarted broker knows no member of any group: each finds out at
	// its next heartbeat and joins again. Sarama's 3 s heartbeat made that
	// 2–3 s of no consumption; with 1 s, a broker killed and restarted at
	// once costs about a second (the session still times out after 10 s).
	sc.Consumer.Group.Heartbeat.Interval = heartbeatInterval
	sc.ChannelBufferSize = c.PrefetchMessages
	sc.Consumer.Fetch.Default = 1 << 20
	sc.Consumer.Fetch.Max = 4 << 20
	return sc, nil
}

// NewPublisher returns a Watermill publisher with PublisherConfig's
// settings, keying every record by messages.PartitionKey.
func NewPublisher(config Config, logger watermill.LoggerAdapter) (*kafka.Publisher, error) {
	sc, err := config.PublisherConfig()
	if err != nil {
		return nil, err
	}
	return kafka.NewPublisher(kafka.PublisherConfig{
		Brokers:               config.Brokers,
		Marshaler:             kafka.NewWithPartitioningMarshaler(messages.PartitionKey),
		OverwriteSaramaConfig: sc,
	}, logger)
}

// NewSubscriber returns a Watermill subscriber in consumer group `group`,
// which starts from the oldest offset the first time it joins; with an
// InstanceID, as a static member (see Config.InstanceID).
func NewSubscriber(config Config, group string, logger watermill.LoggerAdapter) (*kafka.Subscriber, error) {
	if group == "" {
		return nil, errors.New("missing consumer group (NewEventSubscriber reads without one)")
	}
	sc, err := config.SubscriberConfig()
	if err != nil {
		return nil, err
	}
	sc.Consumer.Group.InstanceId = config.GroupInstanceID(group)
	config.setDefaults()
	return kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers:               config.Brokers,
		Unmarshaler:           Unmarshaler{},
		OverwriteSaramaConfig: sc,
		ConsumerGroup:         group,
		NackResendSleep:       config.NackResendSleep,
		ReconnectRetrySleep:   time.Second,
	}, logger)
}

// NewEventSubscriber returns the subscriber a messages.Client waits with. It
// reads every partition without a consumer group, starting at the newest
// offset as of Subscribe: when Subscribe returns, every event published from
// then on will be delivered, and nothing older is read. So a client that
// subscribes before it sends sees every event of its upload, without
// replaying the topic's history and without a group left behind on the
// brokers.
func NewEventSubscriber(config Config, logger watermill.LoggerAdapter) (*kafka.Subscriber, error) {
	sc, err := config.SaramaConfig()
	if err != nil {
		return nil, err
	}
	config.setDefaults()
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	sc.ChannelBufferSize = config.PrefetchMessages
	return kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers:               config.Brokers,
		Unmarshaler:           Unmarshaler{},
		ConsumerGroup:         "",
		OverwriteSaramaConfig: sc,
		NackResendSleep:       config.NackResendSleep,
		ReconnectRetrySleep:   time.Second,
	}, logger)
}
