package service_test

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// Stopping in the middle of work and starting again loses nothing: every
// accepted upload ends up where the rule says, once.
func TestGracefulStopAndRestartLoseNothing(t *testing.T) {
	sys := testsystem.Start(t, nil)
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: sys.Broker.Addrs()}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := messages.NewCommandBus(pub, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 4096, Origin: "restart-test"})
	if err != nil {
		t.Fatal(err)
	}
	// Many small uploads straight onto Kafka: publishing them is much faster
	// than placing them (several transactions each), so the services are
	// far behind when they are stopped.
	type accepted struct {
		id   string
		data []byte
	}
	var (
		mu   sync.Mutex
		done []accepted
		wg   sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range 25 {
				data := make([]byte, r.IntN(20000))
				for i := range data {
					data[i] = byte(r.Uint32() & r.Uint32()) // mostly zeros, some ties and ones
				}
				sent, err := sender.Send(t.Context(), messages.File{Name: "f"}, bytes.NewReader(data))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				done = append(done, accepted{sent.UploadID, data})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	pub.Close()
	var placed int
	sys.Conn(t, messages.Zeros).QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE state = 'placed'").Scan(&placed)
	t.Logf("stopping with %d of %d accepted uploads placed", placed, len(done))
	sys.Restart(t)
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 120*time.Second)
	for _, role := range messages.Services() {
		held := listAll(t, sys, role)
		n := 0
		for _, a := range done {
			z, o := 8*uint64(len(a.data))-ones(a.data), ones(a.data)
			should := role == messages.Zeros && z >= o || role == messages.Ones && o >= z
			f, ok := held[a.id]
			if ok != should {
				t.Errorf("%s holds %s: %v, but it has %d zero and %d one bits", role, a.id, ok, z, o)
			}
			if ok {
				n++
				if f.SHA256 != sha(a.data) {
					t.Errorf("%s: %s has the wrong hash", role, a.id)
				}
			}
		}
		if len(held) != n {
			t.Errorf("%s holds %d files, %d expected", role, len(held), n)
		}
	}
}
