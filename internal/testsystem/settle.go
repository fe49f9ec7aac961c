package testsystem

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// handlerTopics maps each router handler to the topic it consumes.
var handlerTopics = map[string]string{
	messaging.HandlerStoreChunk:  messages.TopicStoreChunk,
	messaging.HandlerAbortUpload: messages.TopicAbortUpload,
	messaging.HandlerDeleteFile:  messages.TopicDeleteFile,
	messaging.HandlerEvents:      messages.TopicEvents,
}

// WaitSettled waits until every consumer group of both services has
// committed every message published so far: nothing is left to handle.
func WaitSettled(t testing.TB, brokers []string, groupPrefix string, timeout time.Duration) {
	t.Helper()
	waitSettled(t, kafka.Config{Brokers: brokers}, groupPrefix, timeout)
}

// WaitSettled is WaitSettled for this system's broker and its default group
// prefix, over the services' own TLS and SASL settings.
func (s *System) WaitSettled(t testing.TB, timeout time.Duration) {
	t.Helper()
	waitSettled(t, s.Kafka, "baum", timeout)
}

func waitSettled(t testing.TB, kcfg kafka.Config, groupPrefix string, timeout time.Duration) {
	t.Helper()
	config, err := kcfg.SaramaConfig()
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	client, err := sarama.NewClient(kcfg.Brokers, config)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	Eventually(t, timeout, func() string {
		for _, role := range messages.Services() {
			for handler, topic := range handlerTopics {
				if msg := lag(client, admin, messaging.GroupName(groupPrefix, role, handler), topic); msg != "" {
					return msg
				}
			}
		}
		return ""
	})
}

func lag(client sarama.Client, admin sarama.ClusterAdmin, group, topic string) string {
	if err := client.RefreshMetadata(topic); err != nil {
		return err.Error()
	}
	partitions, err := client.Partitions(topic)
	if err != nil {
		return err.Error()
	}
	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: partitions})
	if err != nil {
		return err.Error()
	}
	for _, p := range partitions {
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return err.Error()
		}
		committed := int64(-1)
		if b := offsets.GetBlock(topic, p); b != nil {
			committed = b.Offset
		}
		if committed < 0 {
			committed = 0
		}
		if committed < newest {
			return fmt.Sprintf("group %s is at %d of %d on %s/%d", group, committed, newest, topic, p)
		}
	}
	return ""
}
