package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafka4MinVersions are the lowest request versions Apache Kafka 4.0 (and
// so 4.1, which compose runs) accepts, by API: KIP-896 removed the older
// ones. Taken from Kafka 4.0's message definitions
// (clients/src/main/resources/common/message/*Request.json), whose comments
// say e.g. "Versions 0-2 were removed in Apache Kafka 4.0, version 3 is the
// new baseline" (Produce) and "Versions 0-3 were removed in Apache Kafka 4.0,
// Version 4 is the new baseline" (Fetch). KIP-896 first planned more
// (Produce 0-6, Metadata 0-3, JoinGroup 0-1, FindCoordinator 0, …); Kafka
// kept those for librdkafka and other clients (KAFKA-18334), so they are not
// here. An API not listed lost no version. The in-process broker (kfake)
// accepts every version, so without this check a client that fell back to
// a removed version would pass here and fail against Kafka 4.
var kafka4MinVersions = map[kmsg.Key]int16{
	kmsg.Produce:              3,
	kmsg.Fetch:                4,
	kmsg.ListOffsets:          1,
	kmsg.OffsetCommit:         2,
	kmsg.OffsetFetch:          1,
	kmsg.CreateTopics:         2,
	kmsg.DeleteTopics:         1,
	kmsg.OffsetForLeaderEpoch: 2,
	kmsg.WriteTxnMarkers:      1,
	kmsg.DescribeACLs:         1,
	kmsg.CreateACLs:           1,
	kmsg.DeleteACLs:           1,
	kmsg.DescribeConfigs:      1,
	kmsg.AlterReplicaLogDirs:  1,
	kmsg.DescribeLogDirs:      1,
}

// kafka4Gate watches every request a kfake cluster gets (it only looks:
// the cluster handles each as usual) and keeps those below Kafka 4.0's
// minimum versions.
type kafka4Gate struct {
	mu       sync.Mutex
	versions map[string][]int16 // every API and version seen
	removed  map[string]int     // "Produce v2" → how many
}

func watchKafka4Versions(c *kfake.Cluster) *kafka4Gate {
	g := &kafka4Gate{versions: map[string][]int16{}, removed: map[string]int{}}
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		name, v := kmsg.NameForKey(req.Key()), req.GetVersion()
		g.mu.Lock()
		defer g.mu.Unlock()
		if !slices.Contains(g.versions[name], v) {
			g.versions[name] = append(g.versions[name], v)
		}
		if minimum, ok := kafka4MinVersions[kmsg.Key(req.Key())]; ok && v < minimum {
			g.removed[fmt.Sprintf("%s v%d (Kafka 4 accepts v%d and up)", name, v, minimum)]++
		}
		return nil, nil, false
	})
	return g
}

// Removed lists the requests Kafka 4 would have refused, with their counts.
func (g *kafka4Gate) Removed() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for r, n := range g.removed {
		out = append(out, fmt.Sprintf("%s × %d", r, n))
	}
	slices.Sort(out)
	return out
}

// Seen lists every API and the versions sent of it.
func (g *kafka4Gate) Seen() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for name, vs := range g.versions {
		slices.Sort(vs)
		out = append(out, fmt.Sprintf("%s %v", name, vs))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// requireKafka4Versions fails the test, when it ends, for every request
// below Kafka 4.0's minimum versions the cluster got.
func requireKafka4Versions(t *testing.T, c *kfake.Cluster) *kafka4Gate {
	t.Helper()
	g := watchKafka4Versions(c)
	t.Cleanup(func() {
		for _, r := range g.Removed() {
			t.Errorf("a request Kafka 4 refuses (KIP-896): %s", r)
		}
		t.Logf("Kafka requests seen (API [versions]): %s", g.Seen())
	})
	return g
}

// The check catches a client that speaks a version Kafka 4 removed (Sarama
// set to Kafka 0.10 produces with Produce v2), and lets the version the
// services speak (BAUM_KAFKA_VERSION's default, 3.6.0) through.
func TestKafka4VersionCheckCatchesRemovedVersions(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	g := watchKafka4Versions(cluster)
	produce := func(version sarama.KafkaVersion) error {
		sc := sarama.NewConfig()
		sc.Version = version
		sc.Producer.Return.Successes = true
		sc.Producer.Timeout = 3 * time.Second
		sc.Net.ReadTimeout, sc.Net.WriteTimeout = 3*time.Second, 3*time.Second
		sc.Producer.Retry.Max = 0
		p, err := sarama.NewSyncProducer(cluster.ListenAddrs(), sc)
		if err != nil {
			return err
		}
		defer p.Close()
		_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "versions", Value: sarama.StringEncoder("x")})
		return err
	}
	if err := produce(sarama.V3_6_0_0); err != nil {
		t.Fatal(err)
	}
	if removed := g.Removed(); len(removed) != 0 {
		t.Errorf("Sarama at 3.6.0 sent requests Kafka 4 refuses: %v", removed)
	}
	produce(sarama.V0_10_0_0) // whether kfake takes it does not matter: it was sent
	if removed := g.Removed(); !slices.ContainsFunc(removed, func(r string) bool { return strings.HasPrefix(r, "Produce v2 ") }) {
		t.Errorf("Produce v2 went unnoticed; caught %v (seen %s)", removed, g.Seen())
	}
}
