package messages_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/baum-store/baum/messages"
)

type recordingBus struct {
	sent []messages.StoreChunk
	fail error
}

func (b *recordingBus) Send(_ context.Context, cmd any) error {
	if b.fail != nil {
		return b.fail
	}
	if _, err := (messages.Marshaler{}).Marshal(cmd); err != nil {
		return err
	}
	b.sent = append(b.sent, cmd.(messages.StoreChunk))
	return nil
}

func TestSenderChunksInOrderWithTheChecksumLast(t *testing.T) {
	for _, size := range []int{0, 1, 999, 1000, 1001, 2000, 4567} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		bus := &recordingBus{}
		s, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 1000, Origin: "test"})
		if err != nil {
			t.Fatal(err)
		}
		// A reader that returns a byte at a time: chunks must still be full.
		sent, err := s.Send(context.Background(), messages.File{Name: "f"}, iotest.OneByteReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		wantChunks := max(1, (size+999)/1000)
		sum := sha256.Sum256(data)
		if sent.Chunks != wantChunks || len(bus.sent) != wantChunks || sent.Size != int64(size) || sent.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("size %d: sent %+v in %d chunks", size, sent, len(bus.sent))
		}
		var joined []byte
		for i, c := range bus.sent {
			if c.Index != i || c.Offset != int64(len(joined)) || c.UploadID != sent.UploadID || c.Last != (i == wantChunks-1) {
				t.Fatalf("size %d: chunk %d is %+v", size, i, c)
			}
			if !c.Last && len(c.Data) != 1000 {
				t.Fatalf("size %d: chunk %d holds %d bytes", size, i, len(c.Data))
			}
			joined = append(joined, c.Data...)
		}
		last := bus.sent[wantChunks-1]
		if !bytes.Equal(joined, data) || last.Size != int64(size) || last.SHA256 != sent.SHA256 {
			t.Fatalf("size %d: chunks do not rebuild the file", size)
		}
	}
}

type cutReader struct{ n int }

func (r *cutReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestSenderNeverMistakesACutOffReaderForTheEnd(t *testing.T) {
	bus := &recordingBus{}
	s, _ := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 1000})
	_, err := s.Send(context.Background(), messages.File{}, &cutReader{n: 1500})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want the reader's", err)
	}
	for _, c := range bus.sent {
		if c.Last {
			t.Fatal("a cut-off file was sent as complete")
		}
	}
}

func TestSenderReportsBusFailures(t *testing.T) {
	bus := &recordingBus{fail: errors.New("broker down")}
	s, _ := messages.NewSender(bus, messages.SenderConfig{})
	_, err := s.Send(context.Background(), messages.File{}, strings.NewReader("x"))
	if !errors.Is(err, messages.ErrSend) {
		t.Fatalf("error %v, want ErrSend", err)
	}
	if _, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: messages.MaxChunkSize + 1}); err == nil {
		t.Fatal("accepted a chunk size over the limit")
	}
}

// pipeliningBus pretends to be a publisher that queues in order: each Send
// records its chunk, reports it queued, then waits for a release before it
// "hears the acknowledgement". fail makes one chunk's Send fail.
type pipeliningBus struct {
	release chan struct{}
	fail    int // index of the chunk to fail, or -1

	mu        sync.Mutex
	queued    []int
	data      [][]byte
	active    int
	maxActive int
	waiting   []chan struct{} // chunks not yet acknowledged, oldest first
	credits   int             // releases received with no chunk waiting
}

func (b *pipeliningBus) Send(ctx context.Context, cmd any) error {
	c := cmd.(messages.StoreChunk)
	b.mu.Lock()
	b.queued = append(b.queued, c.Index)
	b.data = append(b.data, bytes.Clone(c.Data))
	b.active++
	b.maxActive = max(b.maxActive, b.active)
	mine := make(chan struct{})
	if b.credits > 0 { // released before it was queued
		b.credits--
		close(mine)
	} else {
		b.waiting = append(b.waiting, mine)
	}
	b.mu.Unlock()
	messages.NotifyQueued(ctx)
	// Each release acknowledges the oldest chunk waiting, whoever receives
	// it: a broker acknowledges one partition's records in order.
	for acked := false; !acked; {
		select {
		case <-mine:
			acked = true
		case <-b.release:
			b.mu.Lock()
			if len(b.waiting) > 0 {
				close(b.waiting[0])
				b.waiting = b.waiting[1:]
			} else {
				b.credits++
			}
			b.mu.Unlock()
		}
	}
	b.mu.Lock()
	b.active--
	b.mu.Unlock()
	if c.Index == b.fail {
		return errors.New("broker said no")
	}
	return nil
}

func (b *pipeliningBus) state() (queued []int, active, maxActive int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.queued), b.active, b.maxActive
}

// waitFor polls cond; the timeout only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSenderKeepsInFlightChunksQueuedInOrder: with a publisher that reports
// queued messages, up to InFlight chunks wait for their acknowledgement at
// once, they are queued in order, and Send returns only once every one is
// acknowledged. The buffers may be reused and the bytes still arrive intact.
func TestSenderKeepsInFlightChunksQueuedInOrder(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		bus := &pipeliningBus{release: make(chan struct{}), fail: -1}
		s, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 100, InFlight: 3, ReuseBuffers: reuse})
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 1000) // 10 chunks
		for i := range data {
			data[i] = byte(i * 7)
		}
		type result struct {
			sent messages.Sent
			err  error
		}
		done := make(chan result, 1)
		go func() {
			sent, err := s.Send(context.Background(), messages.File{Name: "f"}, bytes.NewReader(data))
			done <- result{sent, err}
		}()
		waitFor(t, "3 chunks in flight", func() bool { _, active, _ := bus.state(); return active == 3 })
		for range 9 {
			bus.release <- struct{}{}
		}
		// The last chunk is queued but not acknowledged: Send must wait.
		waitFor(t, "the last chunk queued", func() bool { q, _, _ := bus.state(); return len(q) == 10 })
		select {
		case r := <-done:
			t.Fatalf("Send returned %+v, %v before the last chunk was acknowledged", r.sent, r.err)
		default:
		}
		bus.release <- struct{}{}
		r := <-done
		if r.err != nil || r.sent.Chunks != 10 {
			t.Fatalf("Send: %+v, %v", r.sent, r.err)
		}
		queued, _, maxActive := bus.state()
		if !slices.Equal(queued, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) || maxActive != 3 {
			t.Fatalf("queued %v with up to %d in flight; want 0…9 in order, 3 in flight", queued, maxActive)
		}
		if joined := bytes.Join(bus.data, nil); !bytes.Equal(joined, data) {
			t.Fatalf("reuse=%v: the chunks do not add up to the file", reuse)
		}
	}
}

// TestSenderStopsAtAFailedChunk: a chunk the bus refuses fails the upload
// with ErrSend; no chunk is queued past the ones already in flight, and Send
// returns only when none is left on its way (so an Abort comes after them).
func TestSenderStopsAtAFailedChunk(t *testing.T) {
	bus := &pipeliningBus{release: make(chan struct{}), fail: 1}
	s, _ := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 100, InFlight: 2})
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(context.Background(), messages.File{}, bytes.NewReader(make([]byte, 1000)))
		done <- err
	}()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // acknowledge whatever is queued, until the test ends
		for {
			select {
			case bus.release <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Send never returned")
	}
	queued, active, _ := bus.state()
	if !errors.Is(err, messages.ErrSend) || active != 0 || len(queued) > 4 {
		t.Fatalf("error %v with %d chunks queued, %d still active; want ErrSend, at most 4 queued, none active", err, len(queued), active)
	}
}

// downBus fails every command until up is closed.
type downBus struct {
	up    chan struct{}
	sends atomic.Int32
}

func (b *downBus) Send(context.Context, any) error {
	b.sends.Add(1)
	select {
	case <-b.up:
		return nil
	default:
		return errors.New("client has run out of available brokers")
	}
}

func TestAbortRetryingBacksOffUntilTheAbortGetsThrough(t *testing.T) {
	bus := &downBus{up: make(chan struct{})}
	s, err := messages.NewSender(bus, messages.SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	time.AfterFunc(600*time.Millisecond, func() { close(bus.up) })
	attempts, err := s.AbortRetrying(t.Context(), "0193c5f0-0000-7000-8000-000000000001", "broker down",
		func(_ int, _ error, wait time.Duration) { waits = append(waits, wait) })
	if err != nil || attempts < 3 || int(bus.sends.Load()) != attempts {
		t.Fatalf("%d attempts (%d sends), %v; want it through once the broker is back", attempts, bus.sends.Load(), err)
	}
	if waits[0] != messages.AbortFirstRetry || waits[1] != 2*messages.AbortFirstRetry {
		t.Errorf("waited %v; want %s, then twice as long", waits, messages.AbortFirstRetry)
	}

	if s, err = messages.NewSender(&downBus{up: make(chan struct{})}, messages.SenderConfig{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	attempts, err = s.AbortRetrying(ctx, "0193c5f0-0000-7000-8000-000000000002", "x", nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "run out of available brokers") || attempts != 1 {
		t.Errorf("%d attempts, %v; want the last failure and the deadline", attempts, err)
	}
}

// gcBus acknowledges every chunk at once, after two garbage collections
// (which empty any sync.Pool), and records which buffers the chunks came in.
type gcBus struct {
	mu      sync.Mutex
	buffers map[*byte]bool
	data    [][]byte
}

func (b *gcBus) Send(ctx context.Context, cmd any) error {
	c := cmd.(messages.StoreChunk)
	b.mu.Lock()
	b.buffers[unsafe.SliceData(c.Data)] = true
	b.data = append(b.data, bytes.Clone(c.Data))
	b.mu.Unlock()
	messages.NotifyQueued(ctx)
	runtime.GC()
	runtime.GC()
	return nil
}

// TestSenderReusesItsBuffersAcrossGarbageCollections: with ReuseBuffers, a
// large upload (and the next one) goes through InFlight+1 chunk buffers
// however often the collector runs, as it does every few chunks under the
// services' soft memory limit; a buffer pool emptied by each collection
// allocated most chunks anew.
func TestSenderReusesItsBuffersAcrossGarbageCollections(t *testing.T) {
	bus := &gcBus{buffers: map[*byte]bool{}}
	s, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 1000, InFlight: 3, ReuseBuffers: true})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 40_500) // 41 chunks
	for i := range data {
		data[i] = byte(i * 13)
	}
	for upload := range 2 {
		bus.data = nil
		if _, err := s.Send(context.Background(), messages.File{Name: "f"}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.Join(bus.data, nil), data) {
			t.Fatalf("upload %d: the chunks do not add up to the file", upload)
		}
	}
	if n := len(bus.buffers); n > 4 {
		t.Fatalf("82 chunks came in %d buffers; want at most InFlight+1 = 4", n)
	}
}
