package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// PartitionLag is how far one consumer group is behind on one partition:
// the messages between its committed offset and the partition's high-water
// mark (the offset the next message will get). A group that never committed
// on the partition starts from the oldest message kept, so all of those
// count.
type PartitionLag struct {
	Group     string
	Topic     string
	Partition int32
	Committed int64 // -1: nothing committed yet
	HighWater int64
	Lag       int64
}

// Lag reads the lag of each consumer group (group → the topic it consumes)
// on every partition of its topic, through the probe's connection: one
// offset fetch per group and one offset list per broker. Results are
// cached for a moment, so scrapes and readiness checks that come together
// ask Kafka once.
func (p *Probe) Lag(ctx context.Context, groups map[string]string) ([]PartitionLag, error) {
	type result struct {
		lag []PartitionLag
		err error
	}
	done := make(chan result, 1)
	go func() {
		lag, err := p.lag(groups)
		done <- result{lag, err}
	}()
	select {
	case r := <-done:
		return r.lag, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// lagTTL is how long a lag reading is served again.
const lagTTL = 2 * time.Second

type lagCache struct {
	mu  sync.Mutex
	at  time.Time
	lag []PartitionLag
}

func (p *Probe) lag(groups map[string]string) ([]PartitionLag, error) {
	p.lagCache.mu.Lock()
	defer p.lagCache.mu.Unlock()
	if time.Since(p.lagCache.at) < lagTTL {
		return slices.Clone(p.lagCache.lag), nil
	}
	lag, err := p.readLag(groups)
	if err != nil {
		return nil, err
	}
	p.lagCache.at, p.lagCache.lag = time.Now(), lag
	return slices.Clone(lag), nil
}

func (p *Probe) readLag(groups map[string]string) ([]PartitionLag, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	client, err := p.connect()
	if err != nil {
		return nil, err
	}
	topics := slices.Sorted(maps.Values(groups))
	topics = slices.Compact(topics)
	if err := client.RefreshMetadata(topics...); err != nil {
		client.Close() // connected anew next time
		return nil, fmt.Errorf("%s: %w", p.config.Describe(), err)
	}
	partitions := map[string][]int32{}
	for _, t := range topics {
		if partitions[t], err = client.Partitions(t); err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
	}
	high, err := listOffsets(client, partitions, sarama.OffsetNewest)
	if err != nil {
		return nil, err
	}
	lag, err := committedOffsets(client, groups, partitions, high)
	if err != nil {
		return nil, err
	}
	return fromOldest(client, lag)
}

// committedOffsets fetches each group's committed offsets and measures them
// against the high-water marks.
func committedOffsets(client sarama.Client, groups map[string]string, partitions map[string][]int32, high map[string]map[int32]int64) ([]PartitionLag, error) {
	// Not closed: closing an admin made from a client closes the client.
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	var out []PartitionLag
	for _, group := range slices.Sorted(maps.Keys(groups)) {
		topic := groups[group]
		offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: partitions[topic]})
		if err != nil {
			return nil, fmt.Errorf("offsets of group %s: %w", group, err)
		}
		for _, partition := range partitions[topic] {
			l := PartitionLag{Group: group, Topic: topic, Partition: partition, Committed: -1, HighWater: high[topic][partition]}
			if b := offsets.GetBlock(topic, partition); b != nil && errors.Is(b.Err, sarama.ErrNoError) && b.Offset >= 0 {
				l.Committed = b.Offset
			}
			l.Lag = max(0, l.HighWater-l.Committed)
			out = append(out, l)
		}
	}
	return out, nil
}

// fromOldest measures the lag of a group that committed nothing on a
// partition from the oldest message the partition keeps.
func fromOldest(client sarama.Client, lag []PartitionLag) ([]PartitionLag, error) {
	need := map[string][]int32{}
	for _, l := range lag {
		if l.Committed < 0 && !slices.Contains(need[l.Topic], l.Partition) {
			need[l.Topic] = append(need[l.Topic], l.Partition)
		}
	}
	if len(need) == 0 {
		return lag, nil
	}
	oldest, err := listOffsets(client, need, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	for i, l := range lag {
		if l.Committed < 0 {
			lag[i].Lag = max(0, l.HighWater-oldest[l.Topic][l.Partition])
		}
	}
	return lag, nil
}

// listOffsets asks each partition's leader for its newest or oldest offset,
// one request per broker.
func listOffsets(client sarama.Client, partitions map[string][]int32, which int64) (map[string]map[int32]int64, error) {
	requests := map[int32]*sarama.OffsetRequest{}
	brokers := map[int32]*sarama.Broker{}
	for topic, ps := range partitions {
		for _, partition := range ps {
			leader, err := client.Leader(topic, partition)
			if err != nil {
				return nil, fmt.Errorf("leader of %s/%d: %w", topic, partition, err)
			}
			if requests[leader.ID()] == nil {
				requests[leader.ID()], brokers[leader.ID()] = sarama.NewOffsetRequest(client.Config().Version), leader
			}
			requests[leader.ID()].AddBlock(topic, partition, which, 1)
		}
	}
	out := map[string]map[int32]int64{}
	for id, request := range requests {
		response, err := brokers[id].GetAvailableOffsets(request)
		if err != nil {
			return nil, fmt.Errorf("list offsets: %w", err)
		}
		for topic, ps := range partitions {
			if out[topic] == nil {
				out[topic] = map[int32]int64{}
			}
			for _, partition := range ps {
				if b := response.GetBlock(topic, partition); b != nil {
					if !errors.Is(b.Err, sarama.ErrNoError) || len(b.Offsets) != 1 {
						return nil, fmt.Errorf("offset of %s/%d: %w", topic, partition, b.Err)
					}
					out[topic][partition] = b.Offsets[0]
				}
			}
		}
	}
	return out, nil
}
