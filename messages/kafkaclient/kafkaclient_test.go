package kafkaclient_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

func TestPublisherLosesNothingAndKeysByUpload(t *testing.T) {
	sc, err := kafkaclient.Config{Brokers: []string{"kafka:9092"}}.PublisherConfig()
	if err != nil {
		t.Fatal(err)
	}
	if sc.Producer.RequiredAcks != sarama.WaitForAll || !sc.Producer.Idempotent || sc.Net.MaxOpenRequests != 1 || sc.Producer.Retry.Max == 0 {
		t.Errorf("publisher may lose or reorder: acks %v, idempotent %v, in flight %d, retries %d",
			sc.Producer.RequiredAcks, sc.Producer.Idempotent, sc.Net.MaxOpenRequests, sc.Producer.Retry.Max)
	}
	if !sc.Version.IsAtLeast(sarama.V2_1_0_0) {
		t.Errorf("version %s: Kafka 4 refuses it", sc.Version)
	}
	sub, err := kafkaclient.Config{Brokers: []string{"kafka:9092"}}.SubscriberConfig()
	if err != nil {
		t.Fatal(err)
	}
	if sub.Consumer.Offsets.Initial != sarama.OffsetOldest {
		t.Error("a new consumer group would skip what was published before it joined")
	}
}

func TestConfigReportsEveryBadValue(t *testing.T) {
	err := kafkaclient.Config{Brokers: []string{"nohost", "a:1"}, Version: "x.y", PrefetchMessages: -1}.Validate()
	for _, want := range []string{`"nohost" is not host:port`, `version "x.y"`, "prefetch -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if err := (kafkaclient.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "no Kafka brokers") {
		t.Errorf("error %v, want no brokers", err)
	}
	if _, err := kafkaclient.NewSubscriber(kafkaclient.Config{Brokers: []string{"a:1"}}, "", nil); err == nil {
		t.Error("made a group subscriber without a group")
	}
}

// The event subscriber is positioned when Subscribe returns: an event
// published right after is delivered, one published before is not. That is
// what lets a client subscribe, send, and miss nothing.
func TestEventSubscriberStartsAtTheNewestOffsetWhenSubscribeReturns(t *testing.T) {
	b, err := broker.Start(broker.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	config := kafkaclient.Config{Brokers: b.Addrs()}
	pub, err := kafkaclient.NewPublisher(config, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	event := func(id string) *message.Message {
		msg, err := messages.Marshaler{}.Marshal(messages.FileDeleted{FileID: id, Service: messages.Zeros})
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	before, after := "01a21aec-2e12-7f30-a7b5-000000000001", "01a21aec-2e12-7f30-a7b5-000000000002"
	if err := pub.Publish(messages.TopicEvents, event(before)); err != nil {
		t.Fatal(err)
	}
	sub, err := kafkaclient.NewEventSubscriber(config, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, messages.TopicEvents)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(messages.TopicEvents, event(after)); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-ch:
		msg.Ack()
		if got := msg.Metadata.Get(messages.HeaderPartitionKey); got != after {
			t.Fatalf("first event delivered is %s, want %s (the one published after Subscribe)", got, after)
		}
	case <-ctx.Done():
		t.Fatal("the event published after Subscribe never came")
	}
}
