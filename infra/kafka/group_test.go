package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/kafka"
)

// member is a consumer group member that a test drives by hand, request by
// request, to leave the group in the state a process killed at a given
// moment leaves it in. It uses the session and rebalance timeouts of BAUM's
// own subscribers, as the killed process did.
type member struct {
	t      *testing.T
	client *kgo.Client
	join   *kmsg.JoinGroupRequest
}

func newMember(t *testing.T, addr, group, topic string, config kafka.Config) *member {
	t.Helper()
	sc, err := config.SubscriberConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = int32(sc.Consumer.Group.Session.Timeout / time.Millisecond)
	join.RebalanceTimeoutMillis = int32(sc.Consumer.Group.Rebalance.Timeout / time.Millisecond)
	join.ProtocolType = "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name = "range" // Sarama's default strategy
	proto.Metadata = meta.AppendTo(nil)
	join.Protocols = append(join.Protocols, proto)
	m := &member{t: t, client: client, join: join}
	// Join v4+: the first request only hands out a member id.
	resp, err := join.RequestWith(t.Context(), client)
	if err != nil {
		t.Fatal(err)
	}
	join.MemberID = resp.MemberID
	return m
}

// joinAndSync completes a join and takes every partition of topic.
func (m *member) joinAndSync(topic string, partitions int32) {
	resp, err := m.join.RequestWith(m.t.Context(), m.client)
	if err != nil || resp.ErrorCode != 0 {
		m.t.Fatalf("join: %v (code %d)", err, resp.ErrorCode)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = m.join.Group, m.join.MemberID, resp.Generation
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	assignment := kmsg.NewConsumerMemberAssignment()
	tp := kmsg.NewConsumerMemberAssignmentTopic()
	tp.Topic = topic
	for p := int32(0); p < partitions; p++ {
		tp.Partitions = append(tp.Partitions, p)
	}
	assignment.Topics = append(assignment.Topics, tp)
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = m.join.MemberID, assignment.AppendTo(nil)
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	if sresp, err := sync.RequestWith(m.t.Context(), m.client); err != nil || sresp.ErrorCode != 0 {
		m.t.Fatalf("sync: %v", err)
	}
}

// joinAndDie sends the join and dies while the coordinator holds it.
func (m *member) joinAndDie() {
	ctx, cancel := context.WithTimeout(m.t.Context(), 300*time.Millisecond)
	defer cancel()
	m.join.RequestWith(ctx, m.client)
	m.die()
}

func (m *member) die() { m.client.Close() }

// A service killed while it joins its consumer groups leaves members behind
// whose joins the coordinator still holds. The service's next instance must
// get its partitions once the coordinator gives up on them (the rebalance
// timeout). With Sarama's defaults (rebalance timeout 60 s, read timeout
// 30 s) it gave up on its own join first, every 30 s, and each new join
// restarted the coordinator's wait: the group never formed again and the
// service never consumed another message (found by the chaos test).
func TestGroupFormsAgainAfterMembersDiedWhileJoining(t *testing.T) {
	b, err := broker.Start(broker.Config{Partitions: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.Addrs()[0]
	config := kafka.Config{Brokers: []string{addr}}
	const topic, group = "baum.commands.delete-file", "baum-test.delete-file"

	// The instance that ran before: a stable member, killed (no LeaveGroup).
	newMember(t, addr, group, topic, config).joinAndSync(topic, 4)
	// Its successor, killed while the coordinator held its join.
	newMember(t, addr, group, topic, config).joinAndDie()

	pub, err := kafka.NewPublisher(config, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := kafka.NewSubscriber(config, group, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	start := time.Now()
	ch, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("after the crash"))); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-ch:
		msg.Ack()
		t.Logf("the new instance consumed %s after joining", time.Since(start).Round(time.Second))
	case <-time.After(90 * time.Second):
		t.Fatal("the new instance got no message within 90 s: its consumer group never formed again")
	}
}
