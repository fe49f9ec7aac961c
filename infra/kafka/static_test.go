package kafka_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// The environment of the member process TestAKilledMemberRestartedTakesItsPartitionsBackAtOnce runs.
const (
	envMemberBroker   = "BAUM_TEST_MEMBER_BROKER"
	envMemberInstance = "BAUM_TEST_MEMBER_INSTANCE"
)

const staticTopic, staticGroup = "baum.commands.delete-file", "baum-test.static"

// A service killed with SIGKILL and restarted at once must consume again
// within a second, not after the broker expired the dead member's session
// (10 s), during which the whole group stalls: the restarted member comes
// back with the same group instance id (static membership, KIP-345) and the
// coordinator hands it the dead member's place without a rebalance. The dead
// member is a process of its own, killed for real.
func TestAKilledMemberRestartedTakesItsPartitionsBackAtOnce(t *testing.T) {
	const partitions = 4
	b, err := broker.Start(broker.Config{Partitions: partitions}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	config := kafka.Config{Brokers: b.Addrs(), InstanceID: "member-1"}
	pub, err := kafka.NewPublisher(config, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	publish := func(what string) {
		// One message per key, keys enough to reach every partition.
		for i := range 4 * partitions {
			m := message.NewMessage(watermill.NewUUID(), []byte(what))
			m.Metadata.Set(messages.HeaderPartitionKey, strconv.Itoa(i))
			if err := pub.Publish(staticTopic, m); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The member that dies: it consumes, then is killed with SIGKILL.
	publish("before")
	child := exec.Command(os.Args[0], "-test.run=^TestStaticMemberProcess$", "-test.v")
	child.Env = append(os.Environ(), envMemberBroker+"="+b.Addrs()[0], envMemberInstance+"="+config.InstanceID)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	waitForLine(t, bufio.NewScanner(out), "consumed", 60*time.Second)
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()

	// Its successor, at once, with the same instance id.
	start := time.Now()
	sub, err := kafka.NewSubscriber(config, staticGroup, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	received, err := sub.Subscribe(t.Context(), staticTopic)
	if err != nil {
		t.Fatal(err)
	}
	publish("after")
	for got := 0; got < 4*partitions; {
		select {
		case m := <-received:
			if string(m.Payload) == "after" {
				got++
			}
			m.Ack()
		case <-time.After(30 * time.Second):
			t.Fatalf("the restarted member got %d of %d new messages within 30 s", got, 4*partitions)
		}
	}
	took := time.Since(start)
	t.Logf("the restarted member consumed every partition %s after the kill", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("the restarted member consumed every partition only %s after the kill; want well under the 10 s session timeout", took)
	}
}

// TestStaticMemberProcess is the member process of
// TestAKilledMemberRestartedTakesItsPartitionsBackAtOnce: it joins the group,
// prints "consumed" once it got messages of every partition, and waits to be
// killed. Run by hand it does nothing.
func TestStaticMemberProcess(t *testing.T) {
	addr := os.Getenv(envMemberBroker)
	if addr == "" {
		t.Skip("the member process of TestAKilledMemberRestartedTakesItsPartitionsBackAtOnce")
	}
	config := kafka.Config{Brokers: []string{addr}, InstanceID: os.Getenv(envMemberInstance)}
	sub, err := kafka.NewSubscriber(config, staticGroup, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	received, err := sub.Subscribe(t.Context(), staticTopic)
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; ; got++ {
		if got == 16 {
			fmt.Println("consumed")
		}
		select {
		case m := <-received:
			m.Ack()
		case <-time.After(2 * time.Minute):
			t.Fatal("not killed within 2 min")
		}
	}
}

func waitForLine(t *testing.T, s *bufio.Scanner, want string, timeout time.Duration) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		for s.Scan() {
			if strings.TrimSpace(s.Text()) == want {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("the member process ended without printing %q", want)
		}
	case <-time.After(timeout):
		t.Fatalf("the member process did not print %q within %s", want, timeout)
	}
}

// A static member that stops gracefully leaves its group (Sarama's Close does
// not, for static members): its partitions go to the other members at once,
// not after its session expired (10 s) while they stalled.
func TestAStaticMemberThatStopsHandsItsPartitionsOverAtOnce(t *testing.T) {
	const partitions = 4
	b, err := broker.Start(broker.Config{Partitions: partitions}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	config := kafka.Config{Brokers: b.Addrs()}
	pub, err := kafka.NewPublisher(config, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	subscribe := func(instance string) (message.Subscriber, <-chan *message.Message) {
		c := config
		c.InstanceID = instance
		sub, err := kafka.NewSubscriber(c, staticGroup, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := sub.Subscribe(t.Context(), staticTopic)
		if err != nil {
			t.Fatal(err)
		}
		return sub, ch
	}
	stopping, fromStopping := subscribe("member-a")
	staying, fromStaying := subscribe("member-b")
	defer staying.Close()

	// Until both are members, each with its share of the partitions.
	got := map[string]bool{}
	for deadline := time.Now().Add(60 * time.Second); !got["a"] || !got["b"]; {
		if time.Now().After(deadline) {
			t.Fatal("the two members did not share the partitions within 60 s")
		}
		m := message.NewMessage(watermill.NewUUID(), []byte("before"))
		m.Metadata.Set(messages.HeaderPartitionKey, watermill.NewUUID())
		if err := pub.Publish(staticTopic, m); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-fromStopping:
			m.Ack()
			got["a"] = true
		case m := <-fromStaying:
			m.Ack()
			got["b"] = true
		case <-time.After(200 * time.Millisecond):
		}
	}

	go func() {
		for m := range fromStopping {
			m.Ack()
		}
	}()
	start := time.Now()
	if err := stopping.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	for i := range 4 * partitions {
		m := message.NewMessage(watermill.NewUUID(), []byte("after"))
		m.Metadata.Set(messages.HeaderPartitionKey, strconv.Itoa(i))
		if err := pub.Publish(staticTopic, m); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < 4*partitions; {
		select {
		case m := <-fromStaying:
			if string(m.Payload) == "after" {
				n++
			}
			m.Ack()
		case <-time.After(30 * time.Second):
			t.Fatalf("the staying member got %d of %d new messages within 30 s", n, 4*partitions)
		}
	}
	took := time.Since(start)
	t.Logf("the staying member consumed every partition %s after the other stopped", took.Round(time.Millisecond))
	if took > 6*time.Second {
		t.Errorf("the staying member consumed every partition only %s after the other stopped; want well under the 10 s session timeout", took)
	}
}
