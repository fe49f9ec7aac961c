package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// ChunkLog reads chunk commands back from the chunk topic, by partition and
// offset: what a service stages from the log when it does not hold it (see
// command.ChunkLog). It implements command.ChunkLog.
type ChunkLog struct {
	config Config

	mu     sync.Mutex
	client sarama.Client
}

// NewChunkLog returns a ChunkLog; it connects on first use.
func NewChunkLog(config Config) *ChunkLog { return &ChunkLog{config: config} }

// Chunks implements command.ChunkLog: it reads the partition from the
// upload's first chunk on, skipping other uploads' records by their key
// without decoding them.
func (l *ChunkLog) Chunks(ctx context.Context, from domain.ChunkRecord, id string, each func(*messages.StoreChunk) (bool, error)) error {
	client, err := l.connect()
	if err != nil {
		return err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(messages.TopicStoreChunk, from.Partition, from.Offset)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) {
		// Removed by retention, or never there: no retry brings it back.
		err = fmt.Errorf("%w: %w", domain.ErrNotStaged, err)
	}
	if err != nil {
		return fmt.Errorf("read %s partition %d at offset %d: %w", messages.TopicStoreChunk, from.Partition, from.Offset, err)
	}
	defer pc.Close()
	for {
		select {
		case m := <-pc.Messages():
			if string(m.Key) != id {
				if m.Offset+1 >= pc.HighWaterMarkOffset() {
					return fmt.Errorf("%w: the log ends at offset %d of %s partition %d before upload %s does", domain.ErrNotStaged,
						m.Offset, messages.TopicStoreChunk, from.Partition, id)
				}
				continue
			}
			c, err := decodeChunk(m)
			if err != nil {
				return err
			}
			more, err := each(c)
			if err != nil || !more || c.Last {
				return err
			}
			if m.Offset+1 >= pc.HighWaterMarkOffset() {
				return fmt.Errorf("%w: the log ends at offset %d of %s partition %d before upload %s does", domain.ErrNotStaged,
					m.Offset, messages.TopicStoreChunk, from.Partition, id)
			}
		case err := <-pc.Errors():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func decodeChunk(m *sarama.ConsumerMessage) (*messages.StoreChunk, error) {
	wm, err := wkafka.DefaultMarshaler{}.Unmarshal(m)
	if err != nil {
		return nil, err
	}
	var c messages.StoreChunk
	if err := (messages.Marshaler{}).Unmarshal(wm, &c); err != nil {
		return nil, err
	}
	return &c, nil
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
	// A read ends by closing its partition consumer, which waits for the
	// fetch in flight; at the end of the log the broker holds a fetch up
	// to MaxWaitTime (Sarama's default 500 ms) for new records. Each read
	// took 600 ms so (TestChunkLogReadsAnUploadBackFromItsFirstChunk), one
	// after the other on an events partition after a rebalance: the chaos
	// test's recovery stalled for seconds on them.
	sc.Consumer.MaxWaitTime = 10 * time.Millisecond
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
