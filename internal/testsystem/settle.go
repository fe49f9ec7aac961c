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

// WaitShared waits until every replica of each role has a share of every
// partitioned topic its groups consume: each group is stable with one
// member per replica, and every member holds a partition. Replicas that
// start one after the other join a group that already handed every
// partition to the first; a test that needs the work split waits for the
// rebalance.
func (s *System) WaitShared(t testing.TB, timeout time.Duration) {
	t.Helper()
	replicas := map[messages.Service]int{}
	for role, urls := range s.URLs {
		replicas[role] = len(urls)
	}
	waitShared(t, s.Kafka, "baum", replicas, timeout)
}

// WaitShared is WaitShared for processes of the roles (replicas of each)
// on brokers, with groupPrefix.
func WaitShared(t testing.TB, brokers []string, groupPrefix string, replicas map[messages.Service]int, timeout time.Duration) {
	t.Helper()
	waitShared(t, kafka.Config{Brokers: brokers}, groupPrefix, replicas, timeout)
}

func waitShared(t testing.TB, kcfg kafka.Config, groupPrefix string, replicas map[messages.Service]int, timeout time.Duration) {
	t.Helper()
	config, err := kcfg.SaramaConfig()
	if err != nil {
		t.Fatalf("shared: %v", err)
	}
	admin, err := sarama.NewClusterAdmin(kcfg.Brokers, config)
	if err != nil {
		t.Fatalf("shared: %v", err)
	}
	defer admin.Close()
	Eventually(t, timeout, func() string {
		for role, n := range replicas {
			for handler, topic := range handlerTopics {
				if msg := shared(admin, messaging.GroupName(groupPrefix, role, handler), topic, n); msg != "" {
					return msg
				}
			}
		}
		return ""
	})
}

func shared(admin sarama.ClusterAdmin, group, topic string, replicas int) string {
	groups, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(groups) != 1 {
		return fmt.Sprintf("group %s: %v", group, err)
	}
	g := groups[0]
	if g.State != "Stable" || len(g.Members) != replicas {
		return fmt.Sprintf("group %s is %s with %d of %d members", group, g.State, len(g.Members), replicas)
	}
	for id, m := range g.Members {
		a, err := m.GetMemberAssignment()
		if err != nil || a == nil || len(a.Topics[topic]) == 0 {
			return fmt.Sprintf("member %s of group %s holds no partition of %s (%v)", id, group, topic, err)
		}
	}
	return ""
}
