package kafka

import (
	"context"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// ChunkLog reads chunk commands back from the chunk topic by partition and
// offset: the bytes of a file of one chunk that a service staged in memory
// and no longer holds when it places it (after a restart). It implements
// command.ChunkLog.
type ChunkLog struct {
	config Config

	mu     sync.Mutex
	client sarama.Client
}

// NewChunkLog returns a ChunkLog; it connects on first use.
func NewChunkLog(config Config) *ChunkLog { return &ChunkLog{config: config} }

// Chunk reads the chunk command at at.
func (l *ChunkLog) Chunk(ctx context.Context, at domain.ChunkRecord) (*messages.StoreChunk, error) {
	client, err := l.connect()
	if err != nil {
		return nil, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(messages.TopicStoreChunk, at.Partition, at.Offset)
	if err != nil {
		return nil, fmt.Errorf("read %s partition %d at offset %d: %w", messages.TopicStoreChunk, at.Partition, at.Offset, err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		wm, err := wkafka.DefaultMarshaler{}.Unmarshal(m)
		if err != nil {
			return nil, err
		}
		var c messages.StoreChunk
		if err := (messages.Marshaler{}).Unmarshal(wm, &c); err != nil {
			return nil, err
		}
		return &c, nil
	case err := <-pc.Errors():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *ChunkLog) connect() (sarama.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil && !l.client.Closed() {
		return l.client, nil
	}
	sc, err := l.config.SaramaConfig()
	if err != nil {
		return nil, err
	}
	sc.Consumer.Return.Errors = true
	client, err := sarama.NewClient(l.config.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.config.Describe(), err)
	}
	l.client = client
	return client, nil
}

// Close closes the connection.
func (l *ChunkLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil && !l.client.Closed() {
		return l.client.Close()
	}
	return nil
}

// Locate tells where the message being handled came from in the log: its
// partition and offset, which the subscriber puts into the message's
// context. It implements command.LocateChunk.
func Locate(ctx context.Context) (domain.ChunkRecord, bool) {
	partition, ok := wkafka.MessagePartitionFromCtx(ctx)
	if !ok {
		return domain.ChunkRecord{}, false
	}
	offset, ok := wkafka.MessagePartitionOffsetFromCtx(ctx)
	return domain.ChunkRecord{Partition: partition, Offset: offset}, ok
}
