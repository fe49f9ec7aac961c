package kafka_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// A chunk a subscriber received can be read back from the log where Locate
// says it came from: the way a service that staged a file in memory finds
// its bytes again after a restart.
func TestChunkLogReadsBackWhatWasConsumed(t *testing.T) {
	cfg := kafka.Config{Brokers: startBroker(t)}
	pub, err := kafka.NewPublisher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sender, err := messages.NewSender(publishingBus{pub}, messages.SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("baum"), 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 3 { // several, so that they land on several partitions and offsets
		if _, err := sender.Send(ctx, messages.File{Name: "a.txt"}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := kafka.NewSubscriber(cfg, "chunklog-test", watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, messages.TopicStoreChunk)
	if err != nil {
		t.Fatal(err)
	}
	log := kafka.NewChunkLog(cfg)
	defer log.Close()
	for range 3 {
		var msg = <-msgs
		at, ok := kafka.Locate(msg.Context())
		if !ok {
			t.Fatal("the subscriber's message does not say where it came from")
		}
		var want messages.StoreChunk
		if err := (messages.Marshaler{}).Unmarshal(msg, &want); err != nil {
			t.Fatal(err)
		}
		msg.Ack()
		got, err := log.Chunk(ctx, at)
		if err != nil {
			t.Fatalf("read back at %+v: %v", at, err)
		}
		if got.UploadID != want.UploadID || !bytes.Equal(got.Data, data) || got.SHA256 != want.SHA256 {
			t.Errorf("at %+v the log holds upload %s (%d bytes), want %s", at, got.UploadID, len(got.Data), want.UploadID)
		}
	}
	if _, err := log.Chunk(ctx, domain.ChunkRecord{Partition: 0, Offset: 1 << 40}); err == nil {
		t.Error("reading past the end of the log succeeded")
	}
}
