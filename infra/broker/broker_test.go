package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// A consumer that dies while the coordinator holds its JoinGroup must not
// keep partitions: kfake never arms the session timer of a member whose join
// answer it could not deliver, so without the broker's janitor the dead
// member keeps its share of the partitions for as long as the broker runs
// and nobody consumes them (found by the chaos test: a service killed while
// starting left half of its partitions unconsumed).
func TestAMemberThatDiedWhileJoiningLosesItsPartitions(t *testing.T) {
	b, err := broker.Start(broker.Config{Partitions: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.Addrs()[0]
	config := kafka.Config{Brokers: []string{addr}}
	const topic, group = "baum.commands.delete-file", "baum-test.janitor"

	// A live member, alone and stable: the group's leader.
	sub, err := kafka.NewSubscriber(config, group, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	received, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kafka.NewPublisher(config, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("warm-up"))); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-received:
		m.Ack()
	case <-time.After(60 * time.Second):
		t.Fatal("the live member consumes nothing")
	}

	// A second member joins and dies while its join is held (until the
	// leader rejoins at its next heartbeat).
	client, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = group, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 6000, 4000
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = append(join.Protocols, proto)
	resp, err := join.RequestWith(t.Context(), client)
	if err != nil {
		t.Fatal(err)
	}
	join.MemberID = resp.MemberID
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	join.RequestWith(ctx, client)
	cancel()
	client.Close()
	// The leader rejoins and hands the dead member its share.
	waitFor(t, 30*time.Second, func() string {
		members := describe(t, addr, group)
		if len(members) != 2 || members[join.MemberID] == 0 {
			return fmt.Sprintf("members and partitions held: %v", members)
		}
		return ""
	})

	// Every partition must be consumed again.
	start := time.Now()
	want := map[string]bool{}
	for i := range 40 {
		payload := fmt.Sprintf("after-%d", i)
		want[payload] = true
		msg := message.NewMessage(watermill.NewUUID(), []byte(payload))
		msg.Metadata.Set(messages.HeaderPartitionKey, payload) // spread over every partition
		if err := pub.Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(90 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-received:
			delete(want, string(m.Payload))
			m.Ack()
		case <-deadline:
			t.Fatalf("%d of 40 messages never consumed: a dead member still holds their partitions", len(want))
		}
	}
	t.Logf("all partitions consumed again %s after the member died", time.Since(start).Round(time.Second))
}

// describe returns the number of partitions each member of a group holds,
// once the group is stable.
func describe(t *testing.T, addr, group string) map[string]int {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(t.Context(), client)
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].State != "Stable" {
		return nil
	}
	out := map[string]int{}
	for _, m := range resp.Groups[0].Members {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(m.MemberAssignment); err != nil {
			t.Fatal(err)
		}
		for _, topic := range a.Topics {
			out[m.MemberID] += len(topic.Partitions)
		}
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBrokerCountsRequestsAndProducedRecords(t *testing.T) {
	b, err := broker.Start(broker.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: messages.TopicEvents, Key: []byte("k"), Value: []byte{byte(i)}})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	b.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"baum_broker_produced_records_total 5\n", `baum_broker_requests_total{api="Produce"} 1` + "\n",
		`baum_broker_requests_total{api="Metadata"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
