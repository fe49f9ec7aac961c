// Command sendfiles is what another team's Go program looks like when it
// stores files in BAUM without HTTP: it imports only BAUM's public packages
// (messages, messages/kafkaclient) and Watermill, builds its own command bus
// on Kafka, sends each file as chunk commands and waits for its placement.
//
//	go run ./examples/sendfiles -brokers 127.0.0.1:9092 photo.jpg notes.txt
//
// It prints one JSON object per file:
//
//	{"file":"photo.jpg","id":"…","size":1000,"sha256":"…","zero_bits":5000,"one_bits":3000,"stored_in":["zeros"]}
//
// and exits 1 if any file did not make it. A test builds and runs it against
// running services (client_test.go at the repository root).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

type result struct {
	File     string             `json:"file"`
	ID       string             `json:"id,omitempty"`
	Size     int64              `json:"size,omitempty"`
	SHA256   string             `json:"sha256,omitempty"`
	ZeroBits uint64             `json:"zero_bits"`
	OneBits  uint64             `json:"one_bits"`
	StoredIn []messages.Service `json:"stored_in"`
	Error    string             `json:"error,omitempty"`
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	wait := flag.Duration("wait", time.Minute, "how long to wait for each file's placement")
	flag.Parse()
	if flag.NArg() == 0 {
		log.Fatal("usage: sendfiles [-brokers host:port] [-wait 1m] FILE...")
	}
	// Watermill's info lines are per-connection chatter: keep them at debug.
	logger := watermill.NewSlogLoggerWithLevelMapping(nil, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})

	// The program's own Watermill publisher and command bus. kafkaclient
	// holds the Sarama settings BAUM needs (acks from all replicas, an
	// idempotent producer, records keyed by upload id); messages the bus
	// configuration (topics, marshaler, correlation ids).
	kafka := kafkaclient.Config{Brokers: strings.Split(*brokers, ","), ClientID: "sendfiles"}
	publisher, err := kafkaclient.NewPublisher(kafka, logger)
	if err != nil {
		log.Fatal(err)
	}
	defer publisher.Close()
	bus, err := cqrs.NewCommandBusWithConfig(publisher, messages.CommandBusConfig(logger))
	if err != nil {
		log.Fatal(err)
	}
	events, err := kafkaclient.NewEventSubscriber(kafka, logger)
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()
	client, err := messages.NewClient(messages.ClientConfig{Origin: "sendfiles"}, bus, events)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	failed := false
	out := json.NewEncoder(os.Stdout)
	for _, path := range flag.Args() {
		r := send(client, path, *wait)
		failed = failed || r.Error != ""
		out.Encode(r)
	}
	if failed {
		client.Close()
		events.Close()
		publisher.Close()
		os.Exit(1)
	}
}

func send(client *messages.Client, path string, wait time.Duration) result {
	r := result{File: path, StoredIn: []messages.Service{}}
	f, err := os.Open(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	p, err := client.SendAndWait(ctx, messages.File{Name: filepath.Base(path)}, f)
	r.ID, r.Size, r.SHA256 = p.UploadID, p.Size, p.SHA256
	var uploadFailed *messages.UploadFailedError
	switch {
	case errors.As(err, &uploadFailed):
		r.Error = fmt.Sprintf("the services gave it up: %s", uploadFailed.Event.Reason)
	case err != nil:
		r.Error = err.Error()
	default:
		r.ZeroBits, r.OneBits, r.StoredIn = p.ZeroBits, p.OneBits, p.StoredIn
	}
	return r
}
