package messages

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
)

// CommandSender sends one command. *cqrs.CommandBus implements it; any bus
// whose marshaler is Marshaler and whose topics follow TopicFor works.
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	// ChunkSize is the number of file bytes per StoreChunk.
	// Default DefaultChunkSize; at most MaxChunkSize.
	ChunkSize int
	// Origin names the sender in every chunk: a service name or a program name.
	// Default "client".
	Origin string
	// InFlight is how many chunks may be on their way to Kafka at once.
	// A chunk is read, hashed and queued while the ones before it await
	// their acknowledgement, so the round trips to the broker overlap
	// instead of adding up. Memory is about InFlight chunks. It takes
	// effect only with a publisher that reports queued messages (see
	// WithQueuedNotice); with any other, chunks go one at a time.
	// Default DefaultInFlight.
	InFlight int
	// ReuseBuffers lets the Sender use a chunk's buffer again for a later
	// chunk once the bus acknowledged it, which spares an allocation (and
	// the garbage collector's work) per chunk. Set it only if the bus is
	// done with a message's payload when Send returns without error: true
	// of Kafka publishers, which copy it into their request, not of
	// Watermill's in-memory GoChannel, which hands the payload itself to
	// subscribers. A chunk whose Send failed never has its buffer reused.
	ReuseBuffers bool
}

// DefaultInFlight is a Sender's default InFlight: enough to keep a Kafka
// producer with one request in flight busy (it batches the queued chunks of
// an upload, up to its 1 MB batch limit, while the previous request is out).
const DefaultInFlight = 4

func (c *SenderConfig) setDefaults() {
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.Origin == "" {
		c.Origin = "client"
	}
	if c.InFlight == 0 {
		c.InFlight = DefaultInFlight
	}
}

// Validate reports every bad field.
func (c SenderConfig) Validate() error {
	var errs []error
	if c.ChunkSize < 1 || c.ChunkSize > MaxChunkSize {
		errs = append(errs, fmt.Errorf("ChunkSize %d is not between 1 and %d", c.ChunkSize, MaxChunkSize))
	}
	errs = append(errs, validText("Origin", c.Origin, 128))
	if c.InFlight < 1 || c.InFlight > 64 {
		errs = append(errs, fmt.Errorf("InFlight %d is not between 1 and 64", c.InFlight))
	}
	return errors.Join(errs...)
}

// Sender streams a file of any length as ordered StoreChunk commands. It holds
// at most InFlight chunks in memory; the last chunk carries the size and
// SHA-256.
type Sender struct {
	bus    CommandSender
	config SenderConfig
	// free holds, with ReuseBuffers, the buffers acknowledged chunks left,
	// ChunkSize each: at most InFlight+1, what one upload keeps busy (the
	// chunks on their way and the one being read). A free list and not a
	// sync.Pool: a pool is emptied by every garbage collection, which under
	// a soft memory limit runs every few chunks of a large upload, so most
	// chunks allocated (and zeroed) a buffer anew. Uploads at once need
	// more: those past the free list go to the pool, as before.
	free chan *[]byte
	pool sync.Pool
}

// NewSender returns a Sender that sends through bus.
func NewSender(bus CommandSender, config SenderConfig) (*Sender, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	if bus == nil {
		return nil, errors.New("missing command bus")
	}
	s := &Sender{bus: bus, config: config}
	if config.ReuseBuffers {
		s.free = make(chan *[]byte, config.InFlight+1)
	}
	return s, nil
}

// File describes a file to send.
type File struct {
	// UploadID identifies the upload (and later the stored file). If empty,
	// Send chooses a new time-ordered UUID (version 7).
	UploadID string
	// Name is the file's name as the user knows it; metadata only.
	Name string
	// ContentType is the file's media type, may be empty.
	ContentType string
}

// withUploadID returns f with a new time-ordered UUID (version 7) as its
// upload id if it has none.
func withUploadID(f File) (File, error) {
	if f.UploadID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return f, err
		}
		f.UploadID = id.String()
	}
	return f, nil
}

// validate reports every bad field of f.
func (f File) validate() error {
	return errors.Join(validID("UploadID", f.UploadID), validText("Name", f.Name, MaxNameBytes),
		validText("ContentType", f.ContentType, MaxContentTypeBytes))
}

// Sent describes a file whose chunks all reached the bus.
type Sent struct {
	UploadID string
	Size     int64
	SHA256   string
	Chunks   int
}

// ErrSend wraps a failure of the bus (as opposed to the reader) during Send.
var ErrSend = errors.New("sending chunk failed")

// Send reads r to its end and sends it as StoreChunk commands. It returns once
// the bus accepted every chunk, the last one included: from then on the
// upload is the services'.
//
// If ctx carries no correlation id (WithCorrelationID), the upload id is
// used, so that every chunk and every log line about the upload share one.
//
// If r fails, Send returns r's error unwrapped; if the bus fails, the error
// wraps ErrSend. Either way some chunks may have been sent: call Abort so the
// services drop them at once. Send returns only when no chunk of the upload
// is still on its way, so an Abort sent after it comes after them.
func (s *Sender) Send(ctx context.Context, f File, r io.Reader) (Sent, error) {
	f, err := withUploadID(f)
	if err != nil {
		return Sent{}, err
	}
	if CorrelationIDFromContext(ctx) == "" {
		ctx = WithCorrelationID(ctx, f.UploadID)
	}
	if err := f.validate(); err != nil {
		return Sent{}, err
	}
	p := newPipeline(s.bus, s.config.InFlight)
	if s.config.ReuseBuffers {
		p.done = s.release
	}
	hash := sha256.New()
	br := bufio.NewReaderSize(r, 16)
	var offset int64
	for index := 0; ; index++ {
		if err := ctx.Err(); err != nil {
			return Sent{}, p.abandon(err)
		}
		if err := p.failed(); err != nil {
			return Sent{}, p.abandon(fmt.Errorf("%w: upload %s: %w", ErrSend, f.UploadID, err))
		}
		// A buffer of its own per chunk: the chunks before it may still be
		// on their way, and the bus may keep the payload after Send returns
		// (in-memory pub/subs do) unless ReuseBuffers says otherwise.
		buf := s.buffer()
		n, last, err := fill(br, *buf)
		if err != nil {
			return Sent{}, p.abandon(err)
		}
		data := (*buf)[:n]
		hash.Write(data)
		chunk := s.chunk(f, index, offset, data)
		offset += int64(n)
		if last {
			chunk.Last = true
			chunk.Size = offset
			chunk.SHA256 = hex.EncodeToString(hash.Sum(nil))
		}
		if err := p.send(ctx, chunk, buf); err != nil {
			return Sent{}, p.abandon(err)
		}
		if last {
			if err := p.wait(); err != nil {
				return Sent{}, fmt.Errorf("%w: upload %s: %w", ErrSend, f.UploadID, err)
			}
			return Sent{UploadID: f.UploadID, Size: chunk.Size, SHA256: chunk.SHA256, Chunks: index + 1}, nil
		}
	}
}

// chunk is the StoreChunk of data, the file's bytes from offset on; the last
// one gets the size and SHA-256 once they are known.
func (s *Sender) chunk(f File, index int, offset int64, data []byte) StoreChunk {
	return StoreChunk{
		UploadID:    f.UploadID,
		Index:       index,
		Offset:      offset,
		Data:        data,
		Name:        f.Name,
		ContentType: f.ContentType,
		Origin:      s.config.Origin,
	}
}

// buffer returns a chunk buffer: a fresh one, or with ReuseBuffers one an
// acknowledged chunk left.
func (s *Sender) buffer() *[]byte {
	select {
	case b := <-s.free: // never ready without ReuseBuffers: a nil channel
		return b
	default:
	}
	if b, ok := s.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, s.config.ChunkSize)
	return &b
}

// release keeps the buffer of an acknowledged chunk for a later one: on
// the free list, or once InFlight+1 are kept there, in the pool.
func (s *Sender) release(buf *[]byte) {
	select {
	case s.free <- buf:
	default:
		s.pool.Put(buf)
	}
}

// pipeline keeps up to InFlight chunks of one upload on their way to the
// bus, each Send in a goroutine of its own, and queues them in order: chunk
// k+1 is handed to the bus only once the publisher has queued chunk k (or
// its Send returned).
type pipeline struct {
	bus   CommandSender
	slots chan struct{}
	wg    sync.WaitGroup
	done  func(buf *[]byte) // given the buffer of each chunk sent without error, if set

	mu  sync.Mutex
	err error // the first failure
}

func newPipeline(bus CommandSender, inFlight int) *pipeline {
	return &pipeline{bus: bus, slots: make(chan struct{}, inFlight)}
}

// send starts sending chunk, whose bytes are in buf, and returns once it
// holds its place in line.
func (p *pipeline) send(ctx context.Context, chunk StoreChunk, buf *[]byte) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	queued := make(chan struct{})
	var once sync.Once
	notify := func() { once.Do(func() { close(queued) }) }
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := p.bus.Send(WithQueuedNotice(ctx, notify), chunk)
		if err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = fmt.Errorf("chunk %d: %w", chunk.Index, err)
			}
			p.mu.Unlock()
		} else if p.done != nil {
			p.done(buf)
		}
		notify() // a publisher that does not pipeline never did
		<-p.slots
	}()
	<-queued
	return nil
}

func (p *pipeline) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait waits for every chunk sent and returns the first failure.
func (p *pipeline) wait() error {
	p.wg.Wait()
	return p.failed()
}

// abandon waits for the chunks on their way, so that nothing of the upload
// follows an Abort, and returns err.
func (p *pipeline) abandon(err error) error {
	p.wg.Wait()
	return err
}

// Abort asks the services to drop a partly sent upload: one AbortUpload.
func (s *Sender) Abort(ctx context.Context, uploadID, reason string) error {
	if CorrelationIDFromContext(ctx) == "" {
		ctx = WithCorrelationID(ctx, uploadID)
	}
	return s.bus.Send(ctx, AbortUpload{UploadID: uploadID, Reason: reason})
}

// The abort policy: a failed upload's AbortUpload is sent again after
// AbortFirstRetry, then after twice as long each time, up to AbortMaxRetry,
// until it gets through or the caller's context ends. Kafka is often what
// failed the upload, so the abort must outlast the outage; the context's
// deadline says for how long (a service waits minutes, in the background,
// a Client's Send AbortTimeout). An upload never aborted is dropped by the
// services' stalled-upload sweep.
const (
	AbortFirstRetry = 250 * time.Millisecond
	AbortMaxRetry   = 10 * time.Second
)

// AbortRetrying sends Abort by the abort policy until it gets through or ctx
// ends. onRetry, if not nil, hears of each failed attempt that will be
// retried. It returns the attempts made and, if none got through, the last
// failure (joined with ctx's error once ctx ended).
func (s *Sender) AbortRetrying(ctx context.Context, uploadID, reason string, onRetry func(attempt int, err error, wait time.Duration)) (int, error) {
	attempts := 0
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempts++
		last = s.Abort(ctx, uploadID, reason)
		return struct{}{}, last
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: AbortFirstRetry, Multiplier: 2, MaxInterval: AbortMaxRetry}),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			if onRetry != nil {
				onRetry(attempts, err, wait)
			}
		}))
	if err != nil && last != nil && !errors.Is(err, last) {
		err = errors.Join(last, err)
	}
	return attempts, err
}

// fill reads into buf until it is full or r ends, and reports whether r
// ended. Only io.EOF ends r: any other error, io.ErrUnexpectedEOF included
// (a multipart body cut off before its boundary), is the reader's failure.
func fill(r *bufio.Reader, buf []byte) (n int, last bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF { //nolint:errorlint // io.EOF is returned unwrapped by contract
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	// Full: a one-byte look-ahead tells whether this was the last chunk
	// without holding a second chunk in memory.
	if _, err := r.Peek(1); err == io.EOF {
		return n, true, nil
	} else if err != nil {
		return n, false, err
	}
	return n, false, nil
}
