package kafka

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
)

// leaveTimeout bounds the LeaveGroup a static member sends when it closes
// (a stop while Kafka is down waits that long more).
const leaveTimeout = 3 * time.Second

// staticSubscriber is a subscriber whose consumer group member is static
// (Config.InstanceID). Sarama does not leave the group when a static member
// closes (KIP-345: a restart under the same id then takes the partitions
// back without a rebalance), so the member would keep its partitions,
// unconsumed, until the broker expires its session (10 s) unless the same id
// comes back. A graceful stop says it is going: Close leaves the group by
// instance id, as a dynamic member's Close does, and its partitions go to the
// other members, or to a successor under another id, at once. A process that
// is killed sends nothing, and its successor under the same id takes its
// place.
type staticSubscriber struct {
	*wkafka.Subscriber
	config Config
	group  string

	once sync.Once
	err  error
}

// Close closes the subscriber, then leaves its group.
func (s *staticSubscriber) Close() error {
	err := s.Subscriber.Close()
	s.once.Do(func() { s.err = leaveGroup(s.config, s.group) })
	return errors.Join(err, s.err)
}

// leaveGroup removes the static member config.GroupInstanceID(group) from
// group. A member the coordinator does not know (it expired, or never
// joined) is not an error.
func leaveGroup(config Config, group string) error {
	sc, err := config.SaramaConfig()
	if err != nil {
		return err
	}
	if !sc.Version.IsAtLeast(sarama.V2_4_0_0) {
		return nil // no LeaveGroup by instance id: the session expires
	}
	sc.Net.DialTimeout, sc.Net.ReadTimeout, sc.Net.WriteTimeout = leaveTimeout/3, leaveTimeout/3, leaveTimeout/3
	sc.Metadata.Retry.Max, sc.Admin.Retry.Max = 0, 0
	id := config.GroupInstanceID(group)
	done := make(chan error, 1)
	go func() {
		admin, err := sarama.NewClusterAdmin(config.Brokers, sc)
		if err != nil {
			done <- err
			return
		}
		defer admin.Close()
		resp, err := admin.RemoveMemberFromConsumerGroup(group, []string{id})
		if err == nil {
			for _, m := range resp.Members {
				if !errors.Is(m.Err, sarama.ErrNoError) && !errors.Is(m.Err, sarama.ErrUnknownMemberId) {
					err = m.Err
				}
			}
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(leaveTimeout): // Kafka is down: the session expires instead
		err = errors.New("no answer")
	}
	if err != nil {
		return fmt.Errorf("leave consumer group %s as %s: %w", group, id, err)
	}
	return nil
}
