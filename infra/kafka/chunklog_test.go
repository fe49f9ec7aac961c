package kafka_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// An upload's chunks can be read back from the log, from where Locate said
// its first chunk was, skipping other uploads' chunks between them: the way
// a service stages what it does not hold itself.
func TestChunkLogReadsAnUploadBackFromItsFirstChunk(t *testing.T) {
	cfg := kafka.Config{Brokers: startBroker(t)}
	pub, err := kafka.NewPublisher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// Ids on one partition, and their chunks sent in turn, so that the
	// uploads' chunks interleave in it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data := map[string][]byte{}
	var ids []string
	partitioner := sarama.NewHashPartitioner(messages.TopicStoreChunk)
	for len(ids) < 3 {
		id := uuid.NewString()
		if p, _ := partitioner.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(id)}, 10); p == 4 {
			ids = append(ids, id)
			data[id] = bytes.Repeat([]byte{byte('a' + len(ids))}, 2500+len(ids)*1000)
		}
	}
	bus := publishingBus{pub}
	for off := 0; off < 5500; off += 1000 {
		for _, id := range ids {
			d := data[id]
			if off >= len(d) {
				continue
			}
			c := messages.StoreChunk{UploadID: id, Index: off / 1000, Offset: int64(off), Data: d[off:min(off+1000, len(d))], Name: "a.txt"}
			if off+1000 >= len(d) {
				sum := sha256.Sum256(d)
				c.Last, c.Size, c.SHA256 = true, int64(len(d)), hex.EncodeToString(sum[:])
			}
			if err := bus.Send(ctx, c); err != nil {
				t.Fatal(err)
			}
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
	first := map[string]domain.ChunkRecord{}
	for len(first) < len(data) {
		msg := <-msgs
		var c messages.StoreChunk
		if err := (messages.Marshaler{}).Unmarshal(msg, &c); err != nil {
			t.Fatal(err)
		}
		if at, ok := kafka.Locate(msg.Context()); !ok {
			t.Fatal("the subscriber's message does not say where it came from")
		} else if c.Index == 0 {
			first[c.UploadID] = at
		}
		msg.Ack()
	}
	log := kafka.NewChunkLog(cfg)
	defer log.Close()
	for id, want := range data {
		var got []byte
		if err := log.Chunks(ctx, first[id], id, func(c *messages.StoreChunk) (bool, error) {
			if c.UploadID != id || c.Offset != int64(len(got)) {
				t.Errorf("handed chunk %d of %s at byte %d, after %d bytes of %s", c.Index, c.UploadID, c.Offset, len(got), id)
			}
			got = append(got, c.Data...)
			return true, nil
		}); err != nil {
			t.Fatalf("read %s back: %v", id, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("read back %d bytes of %s, want %d", len(got), id, len(want))
		}
	}
	err = log.Chunks(ctx, domain.ChunkRecord{Partition: 0, Offset: 1 << 40}, uuid.NewString(), func(*messages.StoreChunk) (bool, error) { return true, nil })
	if !errors.Is(err, domain.ErrNotStaged) {
		t.Errorf("reading past the end of the log: %v, want ErrNotStaged (no retry brings it)", err)
	}
}
