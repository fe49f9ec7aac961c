package messages_test

import (
	"bytes"
	"context"
	"errors"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/baum-store/baum/messages"
)

// fakeBAUM plays both services on an in-memory pub/sub: it reassembles each
// upload from its chunks and answers with the events respond returns, the
// way the services would publish them.
type fakeBAUM struct {
	t       *testing.T
	pubsub  *gochannel.GoChannel
	respond func(u upload) []messages.Message

	mu      sync.Mutex
	chunks  map[string][]messages.StoreChunk
	aborts  []messages.AbortUpload
	deletes []messages.DeleteFile
}

// upload is what fakeBAUM received of one upload.
type upload struct {
	last messages.StoreChunk
	data []byte
}

func (u upload) counts() (zeroBits, oneBits uint64) {
	for _, b := range u.data {
		oneBits += uint64(bits.OnesCount8(b))
	}
	return 8*uint64(len(u.data)) - oneBits, oneBits
}

// honest answers as the real services do: both count, the keepers store.
func honest(u upload) []messages.Message {
	z, o := u.counts()
	id, size, sum := u.last.UploadID, u.last.Size, u.last.SHA256
	out := []messages.Message{
		messages.BitsCounted{UploadID: id, Service: messages.Ones, Bit: "one", Count: o, Size: size, SHA256: sum},
		messages.BitsCounted{UploadID: id, Service: messages.Zeros, Bit: "zero", Count: z, Size: size, SHA256: sum},
	}
	for _, s := range messages.Keepers(z, o) {
		out = append(out, messages.FileStored{FileID: id, Service: s, Name: u.last.Name, Size: size, SHA256: sum, ZeroBits: z, OneBits: o})
	}
	return out
}

func newFakeBAUM(t *testing.T, respond func(upload) []messages.Message) *fakeBAUM {
	f := &fakeBAUM{t: t, respond: respond, chunks: map[string][]messages.StoreChunk{},
		// Blocking publish keeps the events of an upload in order, as one
		// Kafka partition does.
		pubsub: gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})}
	t.Cleanup(func() { f.pubsub.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, topic := range []string{messages.TopicStoreChunk, messages.TopicAbortUpload, messages.TopicDeleteFile} {
		ch, err := f.pubsub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for msg := range ch {
				f.handle(msg)
				msg.Ack()
			}
		}()
	}
	return f
}

func (f *fakeBAUM) handle(msg *message.Message) {
	var out []messages.Message
	f.mu.Lock()
	switch msg.Metadata.Get(messages.HeaderName) {
	case messages.NameStoreChunk:
		var c messages.StoreChunk
		if err := (messages.Marshaler{}).Unmarshal(msg, &c); err != nil {
			f.t.Errorf("unreadable chunk: %v", err)
			break
		}
		if msg.Metadata.Get(messages.HeaderCorrelationID) != c.UploadID {
			f.t.Errorf("chunk %d has correlation id %q, want the upload id", c.Index, msg.Metadata.Get(messages.HeaderCorrelationID))
		}
		f.chunks[c.UploadID] = append(f.chunks[c.UploadID], c)
		if c.Last {
			var data []byte
			for _, c := range f.chunks[c.UploadID] {
				data = append(data, c.Data...)
			}
			out = f.respond(upload{last: c, data: data})
		}
	case messages.NameAbortUpload:
		var c messages.AbortUpload
		if err := (messages.Marshaler{}).Unmarshal(msg, &c); err != nil {
			f.t.Errorf("unreadable abort: %v", err)
		}
		f.aborts = append(f.aborts, c)
	case messages.NameDeleteFile:
		var c messages.DeleteFile
		if err := (messages.Marshaler{}).Unmarshal(msg, &c); err != nil {
			f.t.Errorf("unreadable delete: %v", err)
		}
		f.deletes = append(f.deletes, c)
		if f.holds(c.FileID, c.Service) {
			out = []messages.Message{messages.FileDeleted{FileID: c.FileID, Service: c.Service, Size: 1}}
		}
	}
	f.mu.Unlock()
	f.publish(out...)
}

// holds: in this fake, zeros holds every file and ones none.
func (f *fakeBAUM) holds(_ string, s messages.Service) bool { return s == messages.Zeros }

func (f *fakeBAUM) publish(events ...messages.Message) {
	for _, e := range events {
		msg, err := (messages.Marshaler{}).Marshal(e)
		if err != nil {
			f.t.Errorf("marshal %T: %v", e, err)
			continue
		}
		if err := f.pubsub.Publish(messages.TopicEvents, msg); err != nil {
			f.t.Errorf("publish: %v", err)
		}
	}
}

func (f *fakeBAUM) client(t *testing.T, config messages.ClientConfig) *messages.Client {
	bus, err := messages.NewCommandBus(f.pubsub, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := messages.NewClient(config, bus, f.pubsub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestClientWaitsForEveryKeeper(t *testing.T) {
	baum := newFakeBAUM(t, honest)
	client := baum.client(t, messages.ClientConfig{ChunkSize: 3, Origin: "test"})
	for _, c := range []struct {
		data []byte
		want []messages.Service
	}{
		{[]byte{0, 0, 0, 0, 1}, []messages.Service{messages.Zeros}},
		{[]byte{0xFF, 0xFE, 0x7F, 0xFF}, []messages.Service{messages.Ones}},
		{[]byte{0x0F, 0xF0, 0x55, 0xAA, 0x3C, 0xC3, 0x0F}, []messages.Service{messages.Zeros, messages.Ones}}, // a tie
		{nil, []messages.Service{messages.Zeros, messages.Ones}},                                              // empty: a tie
	} {
		// A reader of unknown length that hands out a byte at a time.
		p, err := client.SendAndWait(timeout(t, 10*time.Second), messages.File{Name: "f.bin"}, iotest.OneByteReader(bytes.NewReader(c.data)))
		if err != nil {
			t.Fatalf("%x: %v", c.data, err)
		}
		z, o := upload{data: c.data}.counts()
		if !slices.Equal(p.StoredIn, c.want) || !slices.Equal(p.Keepers, c.want) || p.ZeroBits != z || p.OneBits != o ||
			p.Size != int64(len(c.data)) || p.UploadID == "" || len(p.SHA256) != 64 {
			t.Errorf("%x: placement %+v, want stored in %v with %d zero and %d one bits", c.data, p, c.want, z, o)
		}
	}
}

func TestClientReportsAFailedUpload(t *testing.T) {
	baum := newFakeBAUM(t, func(u upload) []messages.Message {
		return []messages.Message{messages.UploadFailed{UploadID: u.last.UploadID, Service: messages.Ones,
			Reason: messages.ReasonChecksumMismatch, Detail: "staged bytes hash to something else"}}
	})
	client := baum.client(t, messages.ClientConfig{})
	p, err := client.SendAndWait(timeout(t, 10*time.Second), messages.File{}, strings.NewReader("abc"))
	var failed *messages.UploadFailedError
	if !errors.Is(err, messages.ErrUploadFailed) || !errors.As(err, &failed) || failed.Event.Reason != messages.ReasonChecksumMismatch ||
		failed.Event.Service != messages.Ones || failed.Event.UploadID != p.UploadID {
		t.Fatalf("error %v, want the UploadFailed event", err)
	}
	if !strings.Contains(err.Error(), "checksum_mismatch") || !strings.Contains(err.Error(), "staged bytes") {
		t.Errorf("error %q does not say why", err)
	}
}

func TestClientIgnoresAFailureAfterThePlacement(t *testing.T) {
	// As the services do: once both counts are in, the placement stands.
	baum := newFakeBAUM(t, func(u upload) []messages.Message {
		events := honest(u)
		failure := messages.UploadFailed{UploadID: u.last.UploadID, Service: messages.Zeros, Reason: messages.ReasonAborted}
		return slices.Insert(events, 2, messages.Message(failure))
	})
	client := baum.client(t, messages.ClientConfig{})
	p, err := client.SendAndWait(timeout(t, 10*time.Second), messages.File{}, strings.NewReader("\x00\x00"))
	if err != nil || !slices.Equal(p.StoredIn, []messages.Service{messages.Zeros}) {
		t.Fatalf("placement %+v, error %v", p, err)
	}
}

func TestClientLearnsTheCountsFromFileStored(t *testing.T) {
	// A watch that missed the BitsCounted events still knows the placement
	// from the keepers' FileStored, which carry both counts.
	baum := newFakeBAUM(t, func(u upload) []messages.Message { return honest(u)[2:] })
	client := baum.client(t, messages.ClientConfig{})
	p, err := client.SendAndWait(timeout(t, 10*time.Second), messages.File{}, strings.NewReader("\xFF"))
	if err != nil || !slices.Equal(p.StoredIn, []messages.Service{messages.Ones}) || p.OneBits != 8 || p.ZeroBits != 0 {
		t.Fatalf("placement %+v, error %v", p, err)
	}
}

func TestClientWaitEndsAtTheDeadlineWithWhatItKnows(t *testing.T) {
	// The tie needs both keepers; only zeros reports.
	baum := newFakeBAUM(t, func(u upload) []messages.Message {
		events := honest(u)
		return events[:len(events)-1]
	})
	client := baum.client(t, messages.ClientConfig{})
	p, err := client.SendAndWait(timeout(t, 500*time.Millisecond), messages.File{}, strings.NewReader("\x0F"))
	if !errors.Is(err, messages.ErrNotSettled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want ErrNotSettled and the deadline", err)
	}
	if p.UploadID == "" || p.Size != 1 || !slices.Equal(p.Keepers, messages.Services()) || !slices.Equal(p.StoredIn, []messages.Service{messages.Zeros}) {
		t.Fatalf("placement %+v does not hold what was known", p)
	}
	if !strings.Contains(err.Error(), p.UploadID) {
		t.Errorf("error %q does not name the upload", err)
	}
}

func TestClientSkipsOtherUploadsAndUnreadableEvents(t *testing.T) {
	other := "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"
	var baum *fakeBAUM
	baum = newFakeBAUM(t, func(u upload) []messages.Message {
		// Noise first: another upload's events, an event that cannot be
		// read, an event this contract does not know.
		bad := message.NewMessage(watermill.NewUUID(), []byte("{not json"))
		bad.Metadata.Set(messages.HeaderName, messages.NameFileStored)
		bad.Metadata.Set(messages.HeaderPartitionKey, u.last.UploadID)
		future := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		future.Metadata.Set(messages.HeaderName, "baum.FileRenamed.v1")
		future.Metadata.Set(messages.HeaderPartitionKey, u.last.UploadID)
		baum.pubsub.Publish(messages.TopicEvents, bad, future)
		return append([]messages.Message{
			messages.UploadFailed{UploadID: other, Service: messages.Zeros, Reason: messages.ReasonStalled},
			messages.FileStored{FileID: other, Service: messages.Ones, Size: 1, SHA256: strings.Repeat("0", 64), OneBits: 8},
		}, honest(u)...)
	})
	client := baum.client(t, messages.ClientConfig{})
	p, err := client.SendAndWait(timeout(t, 10*time.Second), messages.File{}, strings.NewReader("\x00"))
	if err != nil || !slices.Equal(p.StoredIn, []messages.Service{messages.Zeros}) {
		t.Fatalf("placement %+v, error %v", p, err)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("disk read error")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestClientAbortsAHalfSentUpload(t *testing.T) {
	baum := newFakeBAUM(t, honest)
	client := baum.client(t, messages.ClientConfig{ChunkSize: 10})
	_, err := client.SendAndWait(timeout(t, 10*time.Second), messages.File{}, &failingReader{n: 25})
	if err == nil || err.Error() != "disk read error" {
		t.Fatalf("error %v, want the reader's", err)
	}
	baum.mu.Lock()
	defer baum.mu.Unlock()
	if len(baum.aborts) != 1 || baum.aborts[0].Reason != "disk read error" || len(baum.chunks[baum.aborts[0].UploadID]) != 2 {
		t.Fatalf("aborts %+v after %d chunks, want one for the two chunks sent", baum.aborts, len(baum.chunks))
	}
	// Nothing sent, nothing to abort.
	if _, err := client.Send(context.Background(), messages.File{Name: "a\x00b"}, strings.NewReader("x")); err == nil {
		t.Fatal("sent a file whose name holds a NUL")
	}
	if len(baum.aborts) != 1 {
		t.Fatal("aborted an upload nothing was sent of")
	}
}

func TestClientDeletesAndWaitsForTheHolder(t *testing.T) {
	baum := newFakeBAUM(t, honest)
	client := baum.client(t, messages.ClientConfig{})
	id := "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"
	got, err := client.DeleteAndWait(timeout(t, 10*time.Second), id, messages.Zeros)
	if err != nil || len(got) != 1 || got[0].Service != messages.Zeros || got[0].FileID != id {
		t.Fatalf("confirmations %+v, error %v", got, err)
	}
	// Ones does not hold it and stays silent: the wait says so at the deadline.
	got, err = client.DeleteAndWait(timeout(t, 500*time.Millisecond), id)
	if !errors.Is(err, messages.ErrNotConfirmed) || !strings.Contains(err.Error(), "no FileDeleted from ones") || len(got) != 1 {
		t.Fatalf("confirmations %+v, error %v; want ErrNotConfirmed naming ones", got, err)
	}
	baum.mu.Lock()
	defer baum.mu.Unlock()
	if len(baum.deletes) != 3 {
		t.Fatalf("sent %+v, want DeleteFile for zeros, then for both", baum.deletes)
	}
	if err := client.Delete(context.Background(), "not-a-uuid"); err == nil {
		t.Fatal("sent a delete for an id that is not a UUID")
	}
}

func TestClientWithoutEventsSendsButCannotWait(t *testing.T) {
	baum := newFakeBAUM(t, honest)
	bus, _ := messages.NewCommandBus(baum.pubsub, watermill.NopLogger{})
	client, err := messages.NewClient(messages.ClientConfig{}, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := client.Send(context.Background(), messages.File{}, strings.NewReader("abc"))
	if err != nil || sent.Size != 3 || sent.Chunks != 1 {
		t.Fatalf("sent %+v, error %v", sent, err)
	}
	if _, err := client.SendAndWait(context.Background(), messages.File{}, strings.NewReader("abc")); !errors.Is(err, messages.ErrNoEvents) {
		t.Fatalf("error %v, want ErrNoEvents", err)
	}
}

func TestClosingEndsWaits(t *testing.T) {
	baum := newFakeBAUM(t, func(upload) []messages.Message { return nil })
	client := baum.client(t, messages.ClientConfig{})
	w, err := client.WatchUpload(context.Background(), "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		client.Close()
	}()
	if _, err := w.Wait(context.Background()); !errors.Is(err, messages.ErrClientClosed) {
		t.Fatalf("error %v, want ErrClientClosed", err)
	}
	if _, err := client.Send(context.Background(), messages.File{}, strings.NewReader("x")); !errors.Is(err, messages.ErrClientClosed) {
		t.Fatalf("a closed client sent: %v", err)
	}

	// The subscriber closed under a waiting client.
	baum2 := newFakeBAUM(t, func(upload) []messages.Message { return nil })
	client2 := baum2.client(t, messages.ClientConfig{})
	w2, err := client2.WatchUpload(context.Background(), "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1")
	if err != nil {
		t.Fatal(err)
	}
	baum2.pubsub.Close()
	if _, err := w2.Wait(timeout(t, 10*time.Second)); !errors.Is(err, messages.ErrEventsStopped) {
		t.Fatalf("error %v, want ErrEventsStopped", err)
	}
}
