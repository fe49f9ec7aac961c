package kafka_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// A cluster with no topics and auto-creation off, like the compose Kafka
// before its kafka-topics service ran.
func emptyCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func admin(t *testing.T, brokers []string) sarama.ClusterAdmin {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	a, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func topicConfig(t *testing.T, a sarama.ClusterAdmin, topic string) map[string]string {
	t.Helper()
	entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Name] = e.Value
	}
	return out
}

func TestEnsureTopicsCreatesEveryTopicWithItsSettings(t *testing.T) {
	brokers := emptyCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := kafka.TopicsConfig{Partitions: 12, ChunkRetention: 6 * time.Hour}
	results, err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: brokers}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := append(messages.Topics(), messages.TopicPoison)
	var got []string
	for _, r := range results {
		got = append(got, r.Name)
		if !r.Created || r.Partitions != 12 || r.Warning != "" {
			t.Errorf("%+v: want created with 12 partitions", r)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("topics %v, want %v", got, want)
	}

	a := admin(t, brokers)
	listed, err := a.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		d, ok := listed[name]
		if !ok {
			t.Fatalf("%s not in the cluster", name)
		}
		if d.NumPartitions != 12 {
			t.Errorf("%s has %d partitions", name, d.NumPartitions)
		}
		c := topicConfig(t, a, name)
		retention := map[string]time.Duration{messages.TopicStoreChunk: 6 * time.Hour, messages.TopicPoison: 30 * 24 * time.Hour}[name]
		if retention == 0 {
			retention = 7 * 24 * time.Hour
		}
		if c["retention.ms"] != strconv.FormatInt(retention.Milliseconds(), 10) {
			t.Errorf("%s retention.ms = %s, want %s", name, c["retention.ms"], retention)
		}
		if c["segment.ms"] != "3600000" || c["max.message.bytes"] != "1048588" || c["cleanup.policy"] != "delete" {
			t.Errorf("%s configs %v", name, c)
		}
	}
}

func TestEnsureTopicsUpdatesExistingTopicsAndNeverAddsPartitions(t *testing.T) {
	brokers := emptyCluster(t)
	a := admin(t, brokers)
	// An older deployment made the events topic with 3 partitions and default settings.
	if err := a.CreateTopic(messages.TopicEvents, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: brokers}, kafka.TopicsConfig{Retention: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Name == messages.TopicEvents {
			if r.Created || r.Partitions != 3 || r.Warning == "" {
				t.Errorf("events: %+v; want updated, 3 partitions, a warning", r)
			}
		} else if !r.Created || r.Partitions != 12 {
			t.Errorf("%+v: want created with the default 12 partitions", r)
		}
	}
	if got := topicConfig(t, a, messages.TopicEvents)["retention.ms"]; got != "172800000" {
		t.Errorf("events retention.ms = %s after update, want 172800000", got)
	}
	// Running it again changes nothing and fails nothing.
	again, err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: brokers}, kafka.TopicsConfig{Retention: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Created {
			t.Errorf("second run created %s again", r.Name)
		}
	}
}

func TestEnsureTopicsGivesUpWhenKafkaNeverAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond}, kafka.TopicsConfig{})
	if err == nil {
		t.Fatal("no error without a broker")
	}
}

func TestTopicsConfigValidate(t *testing.T) {
	err := kafka.TopicsConfig{Partitions: -1, ReplicationFactor: -1, ChunkRetention: time.Second, Retention: time.Hour, PoisonRetention: time.Hour}.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"partitions -1", "replication factor -1", "chunk retention 1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
