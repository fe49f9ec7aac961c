package messages_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/google/uuid"

	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// The examples run against a whole BAUM (in-process Kafka-protocol broker,
// both services, their own PostgreSQL databases), started on first use.
var (
	shared     *testsystem.Shared
	sharedErr  error
	sharedOnce sync.Once
)

// runningBAUM returns the Kafka bootstrap brokers of a running BAUM.
func runningBAUM() []string {
	sharedOnce.Do(func() { shared, sharedErr = testsystem.StartShared() })
	if sharedErr != nil {
		log.Fatal(sharedErr)
	}
	return shared.Brokers()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the examples' BAUM:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// A program sends a file through its own Watermill command bus on Kafka and
// waits for the services to place it.
func ExampleClient_SendAndWait() {
	brokers := runningBAUM() // e.g. []string{"kafka:9092"}
	logger := watermill.NopLogger{}

	// The program's own publisher and command bus, set up as BAUM expects:
	// acks from all replicas, records keyed by upload, commands on their topics.
	kafkaConfig := kafkaclient.Config{Brokers: brokers}
	publisher, err := kafkaclient.NewPublisher(kafkaConfig, logger)
	if err != nil {
		log.Fatal(err)
	}
	defer publisher.Close()
	bus, err := cqrs.NewCommandBusWithConfig(publisher, messages.CommandBusConfig(logger))
	if err != nil {
		log.Fatal(err)
	}
	// The events tell where the file went.
	events, err := kafkaclient.NewEventSubscriber(kafkaConfig, logger)
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()

	client, err := messages.NewClient(messages.ClientConfig{Origin: "example"}, bus, events)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	file := messages.File{Name: "greeting.txt", ContentType: "text/plain"}
	placement, err := client.SendAndWait(ctx, file, strings.NewReader("Hello, BAUM!"))
	var failed *messages.UploadFailedError
	switch {
	case errors.As(err, &failed):
		fmt.Println("the services gave it up:", failed.Event.Reason, failed.Event.Detail)
	case errors.Is(err, messages.ErrNotSettled):
		fmt.Println("sent, not placed yet; ask GET /data/uploads/" + placement.UploadID)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Printf("%d bytes, %d zero bits, %d one bits: stored in %v\n",
			placement.Size, placement.ZeroBits, placement.OneBits, placement.StoredIn)
	}
	// Output: 12 bytes, 58 zero bits, 38 one bits: stored in [zeros]
}

// Sending without waiting: Send returns once Kafka acknowledged every chunk;
// from then on the upload is the services'.
func ExampleClient_Send() {
	client, err := kafkaclient.New(kafkaclient.Config{Brokers: runningBAUM()}, messages.ClientConfig{ChunkSize: 4}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	sent, err := client.Send(context.Background(), messages.File{Name: "note.txt"}, strings.NewReader("ten bytes!"))
	if err != nil {
		log.Fatal(err) // the services were told to drop any chunks that got out
	}
	fmt.Printf("%d bytes in %d chunks, SHA-256 %s…\n", sent.Size, sent.Chunks, sent.SHA256[:12])
	// Output: 10 bytes in 3 chunks, SHA-256 0425074d7748…
}

// A stream of unknown length is sent as it is produced; the wait for the
// placement gets its own deadline once the last chunk is out.
func ExampleClient_WatchUpload() {
	client, err := kafkaclient.New(kafkaclient.Config{Brokers: runningBAUM()}, messages.ClientConfig{}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// 3 MiB of 0xFF bytes, written by another goroutine.
	r, w := io.Pipe()
	go func() {
		block := bytes.Repeat([]byte{0xFF}, 1<<20)
		for range 3 {
			w.Write(block)
		}
		w.Close()
	}()

	ctx := context.Background()
	file := messages.File{UploadID: uuid.NewString(), Name: "ones.bin"}
	watch, err := client.WatchUpload(ctx, file.UploadID) // before sending: no event is missed
	if err != nil {
		log.Fatal(err)
	}
	defer watch.Stop()
	sent, err := client.Send(ctx, file, r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent %d bytes in %d chunks\n", sent.Size, sent.Chunks)

	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	placement, err := watch.Wait(waitCtx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored in", placement.StoredIn)
	// Output:
	// sent 3145728 bytes in 4 chunks
	// stored in [ones]
}

// Deleting a file that both services hold, and waiting until both did.
func ExampleClient_DeleteAndWait() {
	client, err := kafkaclient.New(kafkaclient.Config{Brokers: runningBAUM()}, messages.ClientConfig{}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 0x0F has as many zero bits as one bits: both services keep it.
	placement, err := client.SendAndWait(ctx, messages.File{Name: "tie.bin"}, bytes.NewReader([]byte{0x0F}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored in", placement.StoredIn)

	confirmed, err := client.DeleteAndWait(ctx, placement.UploadID, placement.StoredIn...)
	if err != nil {
		log.Fatal(err)
	}
	var by []string
	for _, e := range confirmed {
		by = append(by, fmt.Sprintf("%s freed %d byte", e.Service, e.Size))
	}
	slices.Sort(by) // the two services answer in either order
	fmt.Println(strings.Join(by, "; "))
	// Output:
	// stored in [zeros ones]
	// ones freed 1 byte; zeros freed 1 byte
}

// The placement rule, as the services apply it.
func ExampleKeepers() {
	fmt.Println(messages.Keepers(40, 24)) // more zero bits
	fmt.Println(messages.Keepers(3, 5))   // more one bits
	fmt.Println(messages.Keepers(4, 4))   // a tie
	fmt.Println(messages.Keepers(0, 0))   // an empty file
	// Output:
	// [zeros]
	// [ones]
	// [zeros ones]
	// [zeros ones]
}
