package messages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// ChunkSize is the number of file bytes per StoreChunk.
	// Default DefaultChunkSize; at most MaxChunkSize.
	ChunkSize int
	// Origin names the program in every chunk it sends (the services keep it
	// with the upload). Default "client".
	Origin string
	// AbortTimeout bounds how long Send, when it fails half-way, keeps
	// sending AbortUpload by the abort policy (see Sender.AbortRetrying)
	// before it returns. Default 10 s.
	AbortTimeout time.Duration
	// Logger logs events the client skips because it cannot read them.
	// Default: no logging.
	Logger watermill.LoggerAdapter
}

func (c *ClientConfig) setDefaults() {
	if c.AbortTimeout == 0 {
		c.AbortTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate reports every bad field.
func (c ClientConfig) Validate() error {
	var errs []error
	sc := SenderConfig{ChunkSize: c.ChunkSize, Origin: c.Origin}
	sc.setDefaults()
	errs = append(errs, sc.Validate())
	if c.AbortTimeout < 0 {
		errs = append(errs, fmt.Errorf("AbortTimeout %s is negative", c.AbortTimeout))
	}
	return errors.Join(errs...)
}

// Client sends files and deletions to BAUM as commands over a Watermill
// command bus — the program's own — and follows the events on TopicEvents
// to tell where each file was placed. It is safe for concurrent use.
//
// Waiting needs a subscriber that, once Subscribe returns, delivers every
// event published from then on; kafkaclient.NewEventSubscriber returns one
// for Kafka. (A consumer-group subscriber that starts at the newest offset
// only once the group is joined can miss an upload's first events.) The
// Client subscribes once, on its first wait, and keeps the subscription until
// Close.
type Client struct {
	config ClientConfig
	bus    CommandSender
	events message.Subscriber

	subscribe sync.Mutex // one Subscribe at a time
	mu        sync.Mutex // guards what follows
	feed      *feed
	closed    bool
	uploads   map[string][]*UploadWatch
	deletes   map[string][]*DeleteWatch
}

// NewClient returns a Client that sends through bus (a *cqrs.CommandBus
// configured by CommandBusConfig, or any CommandSender that puts the
// commands on their topics encoded by Marshaler) and waits by reading
// events from events. events may be nil for a client that only sends.
func NewClient(config ClientConfig, bus CommandSender, events message.Subscriber) (*Client, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	if bus == nil {
		return nil, errors.New("missing command bus")
	}
	return &Client{config: config, bus: bus, events: events,
		uploads: map[string][]*UploadWatch{}, deletes: map[string][]*DeleteWatch{}}, nil
}

// Send reads r to its end — its length need not be known — and sends it as
// StoreChunk commands, exactly as the services' own HTTP upload does: chunks
// of ChunkSize bytes keyed by the upload id, the last one carrying the size
// and SHA-256. Only io.EOF ends r; any other error of r fails the send. It
// returns once Kafka acknowledged the last chunk: from then on the upload is
// the services'.
//
// If f.UploadID is empty a new time-ordered UUID is chosen. If ctx carries no
// correlation id (WithCorrelationID), the upload id is used, so every log
// line about the upload in both services carries it.
//
// If the send fails half-way (r failed, the bus failed, ctx ended), Send
// tells the services to drop what they got (AbortUpload) before returning
// the error: r's error unwrapped, or one wrapping ErrSend.
func (c *Client) Send(ctx context.Context, f File, r io.Reader) (Sent, error) {
	if err := c.open(); err != nil {
		return Sent{}, err
	}
	f, err := withUploadID(f)
	if err != nil {
		return Sent{}, err
	}
	bus := &countingBus{bus: c.bus}
	s, err := NewSender(bus, SenderConfig{ChunkSize: c.config.ChunkSize, Origin: c.config.Origin})
	if err != nil {
		return Sent{}, err
	}
	sent, err := s.Send(ctx, f, r)
	if err != nil && bus.sent > 0 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.config.AbortTimeout)
		defer cancel()
		if _, aerr := s.AbortRetrying(actx, f.UploadID, reasonOf(err), nil); aerr != nil {
			return Sent{}, fmt.Errorf("%w (and the abort failed too: %v; the services drop the upload once it stalls)", err, aerr)
		}
	}
	return sent, err
}

// SendAndWait sends like Send and waits until the services placed the file,
// or gave it up, or ctx ended. It starts reading events before it sends, so
// it sees every event of the upload.
//
// It returns the Placement and nil once every keeper stored the file; an
// *UploadFailedError (wrapping ErrUploadFailed) if the services failed the
// upload; an error wrapping ErrNotSettled and ctx's error if ctx ended after
// the send — then the Placement holds the upload id and whatever was known.
func (c *Client) SendAndWait(ctx context.Context, f File, r io.Reader) (Placement, error) {
	f, err := withUploadID(f)
	if err != nil {
		return Placement{}, err
	}
	w, err := c.WatchUpload(ctx, f.UploadID)
	if err != nil {
		return Placement{}, err
	}
	defer w.Stop()
	sent, err := c.Send(ctx, f, r)
	if err != nil {
		return Placement{UploadID: f.UploadID}, err
	}
	p, err := w.Wait(ctx)
	if p.Size < 0 || p.SHA256 == "" {
		p.Size, p.SHA256 = sent.Size, sent.SHA256
	}
	return p, err
}

// WatchUpload starts following the events of one upload. Call it before
// sending (or before anything else could make the upload progress), then
// Wait. Stop it when done.
func (c *Client) WatchUpload(ctx context.Context, uploadID string) (*UploadWatch, error) {
	if err := validID("upload id", uploadID); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	w := &UploadWatch{client: c, id: uploadID, tally: NewTally(), done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClientClosed
	}
	c.uploads[uploadID] = append(c.uploads[uploadID], w)
	return w, nil
}

// Delete asks the named services (both, if none is named) to delete a file
// they hold, with its metadata, by sending DeleteFile commands. It does not
// wait: the services delete it once they read the command.
func (c *Client) Delete(ctx context.Context, fileID string, services ...Service) error {
	if err := c.open(); err != nil {
		return err
	}
	if err := validDelete(fileID, services); err != nil {
		return err
	}
	if CorrelationIDFromContext(ctx) == "" {
		ctx = WithCorrelationID(ctx, fileID)
	}
	for _, s := range serviceSet(services) {
		if err := c.bus.Send(ctx, DeleteFile{FileID: fileID, Service: s}); err != nil {
			return fmt.Errorf("%w: DeleteFile %s for %s: %w", ErrSend, fileID, s, err)
		}
	}
	return nil
}

// DeleteAndWait deletes like Delete and waits until every service named
// (both, if none is named) confirmed with FileDeleted. A service that does
// not hold the file ignores the command and never confirms: name only the
// services that hold it (GET /data/{id} on each tells), or expect an error
// wrapping ErrNotConfirmed when ctx ends. The confirmations seen are returned
// either way.
func (c *Client) DeleteAndWait(ctx context.Context, fileID string, services ...Service) ([]FileDeleted, error) {
	w, err := c.WatchDelete(ctx, fileID, services...)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	if err := c.Delete(ctx, fileID, w.services...); err != nil {
		return nil, err
	}
	return w.Wait(ctx)
}

// WatchDelete starts following the FileDeleted events of one file from the
// named services (both, if none is named). Stop it when done.
func (c *Client) WatchDelete(ctx context.Context, fileID string, services ...Service) (*DeleteWatch, error) {
	if err := validDelete(fileID, services); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	w := &DeleteWatch{client: c, id: fileID, services: serviceSet(services), done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClientClosed
	}
	c.deletes[fileID] = append(c.deletes[fileID], w)
	return w, nil
}

// Close stops reading events; waits in progress end with ErrClientClosed.
// It closes neither the bus nor the subscriber: they are the caller's.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	f := c.feed
	c.mu.Unlock()
	if f != nil {
		f.cancel()
		<-f.done
	}
	c.endWatches(ErrClientClosed)
	return nil
}

func (c *Client) open() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClientClosed
	}
	return nil
}

func validDelete(fileID string, services []Service) error {
	errs := []error{validID("file id", fileID)}
	for _, s := range services {
		errs = append(errs, validService("service", s))
	}
	return errors.Join(errs...)
}

// serviceSet returns services without repeats, zeros first; none means both.
func serviceSet(services []Service) []Service {
	if len(services) == 0 {
		return Services()
	}
	var set []Service
	for _, s := range Services() {
		if slices.Contains(services, s) {
			set = append(set, s)
		}
	}
	return set
}

// countingBus counts the commands a Send got onto the bus, so that a failed
// Send aborts only an upload the services have heard of.
type countingBus struct {
	bus  CommandSender
	sent int
}

func (b *countingBus) Send(ctx context.Context, cmd any) error {
	if err := b.bus.Send(ctx, cmd); err != nil {
		return err
	}
	b.sent++
	return nil
}

// reasonOf shortens an error to an AbortUpload reason.
func reasonOf(err error) string {
	s := strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", ""), "?")
	if len(s) > 1000 {
		s = s[:1000]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
