package service_test

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// replayingBus sends every command, then sends the previous one again:
// what a consumer sees when offsets were not committed before a crash or a
// rebalance. It keeps every command it sent. It is not safe for concurrent
// use, so its Sender sends one chunk at a time (InFlight 1).
type replayingBus struct {
	bus  *cqrs.CommandBus
	sent []any
}

func (b *replayingBus) Send(ctx context.Context, cmd any) error {
	if err := b.bus.Send(ctx, cmd); err != nil {
		return err
	}
	if n := len(b.sent); n > 0 {
		if err := b.bus.Send(ctx, b.sent[n-1]); err != nil {
			return err
		}
	}
	b.sent = append(b.sent, cmd)
	return nil
}

func TestRedeliveredChunksAndEventsChangeNothing(t *testing.T) {
	sys := testsystem.Start(t, nil)
	brokers := sys.Broker.Addrs()
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	commandBus, err := messages.NewCommandBus(pub, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	eventBus, err := messaging.NewEventBus(pub, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	replay := &replayingBus{bus: commandBus}
	sender, err := messages.NewSender(replay, messages.SenderConfig{ChunkSize: 1000, Origin: "redelivery-test", InFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0x0F}, 4500) // a tie: both services keep it
	sent, err := sender.Send(t.Context(), messages.File{Name: "tie.bin"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if sent.Chunks != 5 || len(replay.sent) != 5 {
		t.Fatalf("sent %d chunks, want 5", sent.Chunks)
	}

	placed := func() string {
		for _, role := range messages.Services() {
			var st api.Upload
			if res := sys.Get(t, role, "/data/uploads/"+sent.UploadID); res.Status != http.StatusOK {
				return string(res.Body)
			} else if res.JSON(t, &st); st.State != "placed" {
				return string(role) + " sees " + st.State
			}
		}
		return ""
	}
	testsystem.Eventually(t, 20*time.Second, placed)
	before := map[messages.Service]map[string]api.File{}
	for _, role := range messages.Services() {
		before[role] = listAll(t, sys, role)
		if f, ok := before[role][sent.UploadID]; !ok || f.SHA256 != sha(data) || len(before[role]) != 1 {
			t.Fatalf("%s holds %v, want exactly the one file", role, before[role])
		}
	}

	// Everything again, after the placement: the last chunk, every chunk,
	// and both counts twice.
	for _, cmd := range replay.sent {
		if err := commandBus.Send(t.Context(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		for _, e := range []messages.BitsCounted{
			{UploadID: sent.UploadID, Service: messages.Zeros, Bit: "zero", Count: 4 * 4500, Size: 4500, SHA256: sha(data)},
			{UploadID: sent.UploadID, Service: messages.Ones, Bit: "one", Count: 4 * 4500, Size: 4500, SHA256: sha(data)},
		} {
			if err := eventBus.Publish(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
	}
	testsystem.WaitSettled(t, brokers, "baum", 30*time.Second)

	for _, role := range messages.Services() {
		after := listAll(t, sys, role)
		if len(after) != 1 || !reflect.DeepEqual(after[sent.UploadID], before[role][sent.UploadID]) {
			t.Errorf("%s changed: before %v, after %v", role, before[role], after)
		}
		var rows int
		sys.Conn(t, role).QueryRow(t.Context(), "SELECT count(*) FROM files").Scan(&rows)
		if rows != 1 {
			t.Errorf("%s has %d file rows, want 1", role, rows)
		}
	}
	if msg := placed(); msg != "" {
		t.Errorf("no longer placed: %s", msg)
	}
}
