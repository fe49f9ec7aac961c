package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// publishingBus sends commands straight through a publisher, as the CQRS
// command bus does (marshal, set the context, publish to the topic).
type publishingBus struct{ pub message.Publisher }

func (b publishingBus) Send(ctx context.Context, cmd any) error {
	msg, err := messages.Marshaler{}.Marshal(cmd)
	if err != nil {
		return err
	}
	msg.SetContext(ctx)
	return b.pub.Publish(messages.TopicFor(messages.Marshaler{}.Name(cmd)), msg)
}

// overlapBus lets chunk 0's Send return only once chunk 1's Send has
// begun: a Sender waiting for each acknowledgement before the next chunk
// would wait forever.
type overlapBus struct {
	next     publishingBus
	started1 chan struct{}
	once     sync.Once
}

func (b *overlapBus) Send(ctx context.Context, cmd any) error {
	c := cmd.(messages.StoreChunk)
	if c.Index == 1 {
		b.once.Do(func() { close(b.started1) })
	}
	err := b.next.Send(ctx, cmd)
	if c.Index == 0 {
		select {
		case <-b.started1:
		case <-time.After(30 * time.Second):
			return errors.New("chunk 1 was not sent while chunk 0 awaited its acknowledgement")
		}
	}
	return err
}

func startBroker(t *testing.T) []string {
	t.Helper()
	b, err := broker.Start(broker.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addrs()
}

// TestPublisherPipelinesChunksInOrder sends a file through a Sender whose
// bus publishes with kafka.Publisher: chunk 1 goes out while chunk 0 awaits
// its acknowledgement, and the partition holds every chunk once, in order.
func TestPublisherPipelinesChunksInOrder(t *testing.T) {
	brokers := startBroker(t)
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	bus := &overlapBus{next: publishingBus{pub}, started1: make(chan struct{})}
	sender, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 1000, InFlight: 8, ReuseBuffers: true})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300_500)
	for i := range data {
		data[i] = byte(i / 1000)
	}
	sent, err := sender.Send(t.Context(), messages.File{Name: "f"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}

	config := sarama.NewConfig()
	config.Version = sarama.V3_6_0_0
	consumer, err := sarama.NewConsumer(brokers, config)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(messages.TopicStoreChunk)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	next := 0
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(messages.TopicStoreChunk, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		hw := pc.HighWaterMarkOffset()
		for off := int64(0); off < hw; off++ {
			m := <-pc.Messages()
			if string(m.Key) != sent.UploadID {
				t.Fatalf("chunk in partition %d keyed %q", p, m.Key)
			}
			for _, h := range m.Headers {
				if string(h.Key) == messages.HeaderChunkIndex {
					if i, _ := strconv.Atoi(string(h.Value)); i != next {
						t.Fatalf("chunk %d where chunk %d belongs", i, next)
					}
				}
			}
			got = append(got, m.Value...)
			next++
		}
		pc.Close()
	}
	if next != sent.Chunks || !bytes.Equal(got, data) {
		t.Fatalf("the topic holds %d chunks (%d bytes); sent %d chunks of %d bytes", next, len(got), sent.Chunks, len(data))
	}
}

// TestPublisherReportsFailures: a message Kafka refuses fails its Publish
// (no hang), and a closed publisher refuses to publish.
func TestPublisherReportsFailures(t *testing.T) {
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: startBroker(t)}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	big := message.NewMessage(watermill.NewUUID(), make([]byte, 2<<20))
	if err := pub.Publish("baum.test", big); err == nil {
		t.Fatal("a 2 MiB message was published")
	}
	ok := message.NewMessage(watermill.NewUUID(), []byte("x"))
	if err := pub.Publish("baum.test", ok); err != nil {
		t.Fatalf("a small message after a refused one: %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("baum.test", message.NewMessage(watermill.NewUUID(), nil)); err == nil {
		t.Fatal("a closed publisher published")
	}
}
