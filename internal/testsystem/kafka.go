package testsystem

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// Publisher returns a publisher to the system's broker that keys records by
// their partition_key header, as the services do. It is closed when the
// test ends.
func (s *System) Publisher(t testing.TB) message.Publisher {
	t.Helper()
	pub, err := kafka.NewPublisher(s.Kafka, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("publisher: %v", err)
	}
	t.Cleanup(func() { pub.Close() })
	return pub
}

// Sender returns a Sender that sends files to the system as another Go
// program would, through its own command bus.
func (s *System) Sender(t testing.TB, chunkSize int) *messages.Sender {
	t.Helper()
	bus, err := messages.NewCommandBus(s.Publisher(t), watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: chunkSize, Origin: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

// Record is a Kafka record read back by a test.
type Record struct {
	Partition int32
	Offset    int64
	Key       string
	Headers   map[string]string
	Value     []byte
}

// UUID is the Watermill message UUID the record carries.
func (r Record) UUID() string { return r.Headers[wkafka.UUIDHeaderKey] }

func (s *System) client(t testing.TB) sarama.Client {
	t.Helper()
	config, err := s.Kafka.SaramaConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(s.Kafka.Brokers, config)
	if err != nil {
		t.Fatalf("Kafka client: %v", err)
	}
	return client
}

// ReadTopic returns every record published on topic so far, partition by
// partition.
func (s *System) ReadTopic(t testing.TB, topic string) []Record {
	t.Helper()
	client := s.client(t)
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	if err := client.RefreshMetadata(topic); err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	partitions, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	var out []Record
	for _, p := range partitions {
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		if newest <= oldest {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, oldest)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		for offset := oldest; offset < newest; {
			select {
			case m := <-pc.Messages():
				r := Record{Partition: p, Offset: m.Offset, Key: string(m.Key), Value: m.Value, Headers: map[string]string{}}
				for _, h := range m.Headers {
					r.Headers[string(h.Key)] = string(h.Value)
				}
				out = append(out, r)
				offset = m.Offset + 1
			case <-time.After(30 * time.Second):
				pc.Close()
				t.Fatalf("read %s/%d: nothing at offset %d of %d", topic, p, offset, newest)
			}
		}
		pc.Close()
	}
	return out
}

// Partition returns the partition a record keyed key goes to on topic.
func (s *System) Partition(t testing.TB, topic, key string) int32 {
	t.Helper()
	return s.partitioner(t, topic)(key)
}

func (s *System) partitioner(t testing.TB, topic string) func(key string) int32 {
	t.Helper()
	client := s.client(t)
	defer client.Close()
	partitions, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	hash := sarama.NewHashPartitioner(topic)
	return func(key string) int32 {
		p, err := hash.Partition(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key)}, int32(len(partitions)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// IDsOnPartition returns n new upload ids whose messages on topic all go to
// the same partition, so a test can line messages up behind each other.
func (s *System) IDsOnPartition(t testing.TB, topic string, n int) []string {
	t.Helper()
	partition := s.partitioner(t, topic)
	ids := []string{uuid.Must(uuid.NewV7()).String()}
	want := partition(ids[0])
	for len(ids) < n {
		if id := uuid.Must(uuid.NewV7()).String(); partition(id) == want {
			ids = append(ids, id)
		}
	}
	return ids
}
