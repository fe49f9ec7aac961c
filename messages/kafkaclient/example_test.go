package kafkaclient_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// The example runs against a whole BAUM (in-process Kafka-protocol broker,
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
			fmt.Fprintln(os.Stderr, "stopping the example's BAUM:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// The shortest way from a Go program to a stored file: a client with its
// own Kafka connections.
func ExampleNew() {
	client, err := kafkaclient.New(
		kafkaclient.Config{Brokers: runningBAUM(), ClientID: "my-app"}, // runningBAUM(): e.g. []string{"kafka:9092"}
		messages.ClientConfig{Origin: "my-app"},
		nil, // a watermill.LoggerAdapter, if you want Watermill's logs
	)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	placement, err := client.SendAndWait(ctx, messages.File{Name: "hi.txt"}, strings.NewReader("Hi"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored in", placement.StoredIn, "with", placement.ZeroBits, "zero bits and", placement.OneBits, "one bits")
	// Output: stored in [zeros] with 10 zero bits and 6 one bits
}
