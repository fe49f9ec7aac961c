package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/baum-store/baum/messages"
)

// TopicsConfig says how BAUM's topics are laid out on a real Kafka cluster
// (`baum topics`, the kafka-topics service of docker-compose.yaml).
type TopicsConfig struct {
	// Partitions per topic: the most members of one consumer group that can
	// work at once, so the most instances of a service that can share its
	// load. Default 12.
	Partitions int32
	// ReplicationFactor of every topic. Default 1 (a single broker).
	ReplicationFactor int16
	// ChunkRetention is how long chunk commands (the files' bytes) stay in
	// Kafka. A service that is down longer than this misses the uploads of
	// that time (they fail as stalled). Default 24 h.
	ChunkRetention time.Duration
	// Retention of the other command topics and of the event topic.
	// Default 7 days (Kafka's default).
	Retention time.Duration
	// PoisonRetention is how long poisoned messages are kept for someone to
	// look at them. Default 30 days.
	PoisonRetention time.Duration
}

// MaxMessageBytes is the largest record BAUM's topics accept, Kafka's own
// default (message.max.bytes). A chunk command carries at most
// messages.MaxChunkSize (768 KiB) of file bytes plus headers of a few hundred
// bytes, and the publisher refuses records over 1,000,000 bytes, so the
// default fits with room to spare; the topics state it so that a broker
// configured with a smaller limit cannot break uploads.
const MaxMessageBytes = 1048588

func (c *TopicsConfig) setDefaults() {
	if c.Partitions == 0 {
		c.Partitions = 12
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.ChunkRetention == 0 {
		c.ChunkRetention = 24 * time.Hour
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.PoisonRetention == 0 {
		c.PoisonRetention = 30 * 24 * time.Hour
	}
}

// Validate reports every bad field.
func (c TopicsConfig) Validate() error {
	var errs []error
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions %d must be at least 1", c.Partitions))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("replication factor %d must be at least 1", c.ReplicationFactor))
	}
	for name, d := range map[string]time.Duration{"chunk retention": c.ChunkRetention, "retention": c.Retention, "poison retention": c.PoisonRetention} {
		if d < time.Minute {
			errs = append(errs, fmt.Errorf("%s %s must be at least 1m", name, d))
		}
	}
	return errors.Join(errs...)
}

// TopicSpec is one topic as BAUM wants it.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	// Configs are topic-level settings (retention.ms, …).
	Configs map[string]string
}

// Specs returns every topic BAUM uses (messages.Topics() and the poison
// topic), with their settings.
func (c TopicsConfig) Specs() []TopicSpec {
	c.setDefaults()
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	spec := func(name string, retention time.Duration) TopicSpec {
		// Retention deletes whole closed segments only. Kafka rolls a
		// segment after 7 days or 1 GiB, so without a shorter roll a quiet
		// topic would keep its data far past its retention.
		roll := min(retention, time.Hour)
		return TopicSpec{Name: name, Partitions: c.Partitions, ReplicationFactor: c.ReplicationFactor, Configs: map[string]string{
			"cleanup.policy":    "delete",
			"retention.ms":      ms(retention),
			"segment.ms":        ms(roll),
			"max.message.bytes": strconv.Itoa(MaxMessageBytes),
		}}
	}
	var specs []TopicSpec
	for _, t := range messages.Topics() {
		retention := c.Retention
		if t == messages.TopicStoreChunk {
			retention = c.ChunkRetention
		}
		specs = append(specs, spec(t, retention))
	}
	return append(specs, spec(messages.TopicPoison, c.PoisonRetention))
}

// TopicResult says what EnsureTopics did with one topic.
type TopicResult struct {
	Name string
	// Created is true if the topic did not exist; false means its settings
	// were brought up to date.
	Created bool
	// Partitions the topic has now.
	Partitions int32
	// Warning is set when the topic exists with fewer partitions than asked.
	// Partitions are never added: that would move upload ids to other
	// partitions and break the order of an upload's messages in flight.
	Warning string
}

// EnsureTopics creates every topic of topics.Specs() that is missing and
// sets the configs of those that exist, so it can run at every start. It
// retries connecting to Kafka until ctx ends.
func EnsureTopics(ctx context.Context, conn Config, topics TopicsConfig) ([]TopicResult, error) {
	topics.setDefaults()
	if err := topics.Validate(); err != nil {
		return nil, err
	}
	sc, err := conn.SaramaConfig()
	if err != nil {
		return nil, err
	}
	var admin sarama.ClusterAdmin
	for {
		if admin, err = sarama.NewClusterAdmin(conn.Brokers, sc); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to Kafka %v: %w", conn.Brokers, err)
		case <-time.After(time.Second):
		}
	}
	defer admin.Close()

	var results []TopicResult
	for _, spec := range topics.Specs() {
		r, err := ensureTopic(admin, spec)
		if err != nil {
			return results, fmt.Errorf("topic %s: %w", spec.Name, err)
		}
		results = append(results, r)
	}
	return results, nil
}

func ensureTopic(admin sarama.ClusterAdmin, spec TopicSpec) (TopicResult, error) {
	r := TopicResult{Name: spec.Name}
	entries := map[string]*string{}
	for k, v := range spec.Configs {
		entries[k] = &v
	}
	err := admin.CreateTopic(spec.Name, &sarama.TopicDetail{
		NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor, ConfigEntries: entries,
	}, false)
	switch {
	case err == nil:
		r.Created = true
	case errors.Is(err, sarama.ErrTopicAlreadyExists):
		alter := map[string]sarama.IncrementalAlterConfigsEntry{}
		for k, v := range entries {
			alter[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: v}
		}
		if err := admin.IncrementalAlterConfig(sarama.TopicResource, spec.Name, alter, false); err != nil {
			return r, fmt.Errorf("update settings: %w", err)
		}
	default:
		return r, fmt.Errorf("create: %w", err)
	}
	// A new topic reaches the brokers' metadata a moment after it is created.
	for try := 0; ; try++ {
		n, err := partitions(admin, spec.Name)
		if err == nil && n > 0 {
			r.Partitions = n
			break
		}
		if try == 20 {
			return r, fmt.Errorf("describe: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r.Partitions < spec.Partitions {
		r.Warning = fmt.Sprintf("has %d partitions, fewer than the %d asked for; left as it is (adding partitions would reorder uploads in flight)", r.Partitions, spec.Partitions)
	}
	return r, nil
}

func partitions(admin sarama.ClusterAdmin, topic string) (int32, error) {
	meta, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(meta, func(m *sarama.TopicMetadata) bool { return m.Name == topic })
	if i < 0 {
		return 0, errors.New("not in the cluster's metadata")
	}
	if meta[i].Err != sarama.ErrNoError {
		return 0, meta[i].Err
	}
	return int32(len(meta[i].Partitions)), nil
}
