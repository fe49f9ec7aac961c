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
	"github.com/google/uuid"
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

// Errors of a Client. Each error a Client returns wraps at most one of them;
// test with errors.Is.
var (
	// ErrUploadFailed: the services gave the upload up; it is stored nowhere.
	// The error is an *UploadFailedError that says why.
	ErrUploadFailed = errors.New("upload failed")
	// ErrNotSettled: the upload was sent (every chunk acknowledged by Kafka)
	// but its placement was not seen before the context ended. The services
	// go on with it; GET /data/uploads/{id} tells how it ends.
	ErrNotSettled = errors.New("upload sent but not yet placed")
	// ErrNotConfirmed: a DeleteFile was sent but not every service named
	// confirmed it before the context ended. A service that does not hold
	// the file never answers.
	ErrNotConfirmed = errors.New("delete sent but not confirmed")
	// ErrNoEvents: the Client was made without an event subscriber, so it
	// can send but not wait.
	ErrNoEvents = errors.New("the client has no event subscriber")
	// ErrEventsStopped: the event subscription ended (its subscriber was
	// closed) while the client was waiting.
	ErrEventsStopped = errors.New("the event subscription ended")
	// ErrClientClosed: the Client was closed.
	ErrClientClosed = errors.New("client closed")
)

// UploadFailedError is the UploadFailed event that ended an upload.
type UploadFailedError struct{ Event UploadFailed }

func (e *UploadFailedError) Error() string {
	msg := fmt.Sprintf("upload %s failed: %s (reported by %s)", e.Event.UploadID, e.Event.Reason, e.Event.Service)
	if e.Event.Detail != "" {
		msg += ": " + e.Event.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrUploadFailed) true.
func (e *UploadFailedError) Is(target error) bool { return target == ErrUploadFailed }

// Placement is what became of an upload: the file's size and checksum, both
// bit counts and the services that hold it.
type Placement struct {
	UploadID string // also the stored file's id
	Size     int64  // bytes; -1 while unknown (a watch that saw no count yet)
	SHA256   string // hex; "" while unknown
	ZeroBits uint64 // 0 until zeros counted
	OneBits  uint64 // 0 until ones counted
	// Keepers are the services the placement rule names, once both counts
	// are known (Keepers(ZeroBits, OneBits)).
	Keepers []Service
	// StoredIn are the keepers that reported FileStored, zeros first. When
	// a wait succeeds it equals Keepers.
	StoredIn []Service
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

// feed is a running subscription to TopicEvents.
type feed struct {
	cancel context.CancelFunc
	done   chan struct{}
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
	if f.UploadID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Sent{}, err
		}
		f.UploadID = id.String()
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
	if f.UploadID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Placement{}, err
		}
		f.UploadID = id.String()
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
	w := &UploadWatch{client: c, id: uploadID, size: -1, done: make(chan struct{})}
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

// start subscribes to TopicEvents unless a subscription runs. Subscribe
// returns only once the subscriber is positioned, so every event published
// after start returns reaches the watches.
func (c *Client) start(ctx context.Context) error {
	if c.events == nil {
		return ErrNoEvents
	}
	c.subscribe.Lock()
	defer c.subscribe.Unlock()
	c.mu.Lock()
	running, closed := c.feed != nil, c.closed
	c.mu.Unlock()
	if closed {
		return ErrClientClosed
	}
	if running {
		return nil
	}
	subCtx, cancel := context.WithCancel(context.Background())
	type subscribed struct {
		ch  <-chan *message.Message
		err error
	}
	result := make(chan subscribed, 1)
	go func() {
		ch, err := c.events.Subscribe(subCtx, TopicEvents)
		result <- subscribed{ch, err}
	}()
	var ch <-chan *message.Message
	select {
	case r := <-result:
		if r.err != nil {
			cancel()
			return fmt.Errorf("subscribe to %s: %w", TopicEvents, r.err)
		}
		ch = r.ch
	case <-ctx.Done():
		cancel() // a Subscribe that still succeeds ends with subCtx
		return fmt.Errorf("subscribe to %s: %w", TopicEvents, ctx.Err())
	}
	f := &feed{cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.feed = f
	c.mu.Unlock()
	go c.read(f, ch)
	return nil
}

// read hands every event to the watches until the subscription ends.
func (c *Client) read(f *feed, ch <-chan *message.Message) {
	defer close(f.done)
	for msg := range ch {
		c.dispatch(msg)
		msg.Ack()
	}
	c.mu.Lock()
	if c.feed == f {
		c.feed = nil // the next watch subscribes again
	}
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.endWatches(ErrEventsStopped)
	}
}

func (c *Client) dispatch(msg *message.Message) {
	// Every event is keyed by its upload (= file) id: skip the many that
	// concern nobody here without decoding them.
	key := msg.Metadata.Get(HeaderPartitionKey)
	c.mu.Lock()
	uploads, deletes := slices.Clone(c.uploads[key]), slices.Clone(c.deletes[key])
	c.mu.Unlock()
	if key != "" && len(uploads) == 0 && len(deletes) == 0 {
		return
	}
	name := msg.Metadata.Get(HeaderName)
	var m Message
	switch name {
	case NameBitsCounted:
		m = &BitsCounted{}
	case NameFileStored:
		m = &FileStored{}
	case NameUploadFailed:
		m = &UploadFailed{}
	case NameFileDeleted:
		m = &FileDeleted{}
	default:
		return // a newer contract's event: nothing a wait depends on
	}
	if err := (Marshaler{}).Unmarshal(msg, m); err != nil {
		c.config.Logger.Info("skipping an event the client cannot read", watermill.LogFields{"name": name, "error": err.Error()})
		return
	}
	if key == "" || key != m.PartitionKey() {
		c.mu.Lock()
		uploads, deletes = slices.Clone(c.uploads[m.PartitionKey()]), slices.Clone(c.deletes[m.PartitionKey()])
		c.mu.Unlock()
	}
	switch e := m.(type) {
	case *BitsCounted:
		for _, w := range uploads {
			w.bitsCounted(*e)
		}
	case *FileStored:
		for _, w := range uploads {
			w.fileStored(*e)
		}
	case *UploadFailed:
		for _, w := range uploads {
			w.uploadFailed(*e)
		}
	case *FileDeleted:
		for _, w := range deletes {
			w.fileDeleted(*e)
		}
	}
}

func (c *Client) endWatches(err error) {
	c.mu.Lock()
	var uploads []*UploadWatch
	for _, ws := range c.uploads {
		uploads = append(uploads, ws...)
	}
	var deletes []*DeleteWatch
	for _, ws := range c.deletes {
		deletes = append(deletes, ws...)
	}
	c.mu.Unlock()
	for _, w := range uploads {
		w.end(err)
	}
	for _, w := range deletes {
		w.end(err)
	}
}

// UploadWatch follows one upload's events. Its view is the services' own:
// they decide the placement from the same events in the same order.
type UploadWatch struct {
	client *Client
	id     string

	mu       sync.Mutex
	zeroBits *uint64
	oneBits  *uint64
	size     int64
	sha256   string
	keepers  []Service
	storedIn []Service
	failed   *UploadFailed
	err      error
	done     chan struct{}
	finished bool
}

// Wait waits until the upload is placed (nil error), failed (an
// *UploadFailedError) or ctx ends (an error wrapping ErrNotSettled and ctx's
// error). The Placement holds what is known either way.
func (w *UploadWatch) Wait(ctx context.Context) (Placement, error) {
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	p := Placement{UploadID: w.id, Size: w.size, SHA256: w.sha256,
		Keepers: slices.Clone(w.keepers), StoredIn: slices.Clone(w.storedIn)}
	if w.zeroBits != nil {
		p.ZeroBits = *w.zeroBits
	}
	if w.oneBits != nil {
		p.OneBits = *w.oneBits
	}
	switch {
	case w.failed != nil:
		return p, &UploadFailedError{Event: *w.failed}
	case w.err != nil:
		return p, w.err
	case w.finished:
		return p, nil
	}
	return p, fmt.Errorf("%w: upload %s: %s: %w", ErrNotSettled, w.id, w.progressLocked(), ctx.Err())
}

// Stop stops following the upload.
func (w *UploadWatch) Stop() {
	c := w.client
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uploads[w.id] = slices.DeleteFunc(c.uploads[w.id], func(x *UploadWatch) bool { return x == w })
	if len(c.uploads[w.id]) == 0 {
		delete(c.uploads, w.id)
	}
}

func (w *UploadWatch) progressLocked() string {
	switch {
	case w.keepers != nil:
		return fmt.Sprintf("placed in %v, stored in %v so far", w.keepers, w.storedIn)
	case w.zeroBits != nil || w.oneBits != nil:
		return "one service counted it, the other not yet"
	}
	return "no service has counted it yet"
}

func (w *UploadWatch) bitsCounted(e BitsCounted) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished || w.keepers != nil {
		return
	}
	if w.size >= 0 && (w.size != e.Size || w.sha256 != e.SHA256) {
		return // the services disagree: they fail the upload (count_mismatch)
	}
	w.size, w.sha256 = e.Size, e.SHA256
	n := e.Count
	if e.Service == Zeros {
		w.zeroBits = &n
	} else {
		w.oneBits = &n
	}
	if w.zeroBits != nil && w.oneBits != nil && *w.zeroBits+*w.oneBits == 8*uint64(w.size) {
		w.keepers = Keepers(*w.zeroBits, *w.oneBits)
	}
}

func (w *UploadWatch) fileStored(e FileStored) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	if w.keepers == nil {
		// The counts went by before the watch (or were missed): a keeper's
		// FileStored carries them too.
		z, o := e.ZeroBits, e.OneBits
		w.zeroBits, w.oneBits, w.size, w.sha256 = &z, &o, e.Size, e.SHA256
		w.keepers = Keepers(z, o)
	}
	if !slices.Contains(w.storedIn, e.Service) {
		w.storedIn = append(w.storedIn, e.Service)
		slices.SortFunc(w.storedIn, func(a, b Service) int {
			return slices.Index(Services(), a) - slices.Index(Services(), b)
		})
	}
	if slices.Equal(w.storedIn, w.keepers) {
		w.finishLocked()
	}
}

func (w *UploadWatch) uploadFailed(e UploadFailed) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A failure after the placement was decided changes nothing: the
	// services go on storing it.
	if w.finished || w.keepers != nil {
		return
	}
	w.failed = &e
	w.finishLocked()
}

func (w *UploadWatch) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.finished {
		w.err = err
		w.finishLocked()
	}
}

func (w *UploadWatch) finishLocked() {
	w.finished = true
	close(w.done)
}

// DeleteWatch follows the FileDeleted events of one file.
type DeleteWatch struct {
	client   *Client
	id       string
	services []Service

	mu        sync.Mutex
	confirmed []FileDeleted
	err       error
	done      chan struct{}
	finished  bool
}

// Wait waits until every service watched confirmed the delete, or ctx ends
// (an error wrapping ErrNotConfirmed and ctx's error). It returns the
// confirmations seen, in the order they came.
func (w *DeleteWatch) Wait(ctx context.Context) ([]FileDeleted, error) {
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	got := slices.Clone(w.confirmed)
	switch {
	case w.err != nil:
		return got, w.err
	case w.finished:
		return got, nil
	}
	var missing []string
	for _, s := range w.services {
		if !slices.ContainsFunc(w.confirmed, func(e FileDeleted) bool { return e.Service == s }) {
			missing = append(missing, string(s))
		}
	}
	return got, fmt.Errorf("%w: file %s: no FileDeleted from %s (a service that does not hold the file does not answer): %w",
		ErrNotConfirmed, w.id, strings.Join(missing, ", "), ctx.Err())
}

// Stop stops following the file.
func (w *DeleteWatch) Stop() {
	c := w.client
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deletes[w.id] = slices.DeleteFunc(c.deletes[w.id], func(x *DeleteWatch) bool { return x == w })
	if len(c.deletes[w.id]) == 0 {
		delete(c.deletes, w.id)
	}
}

func (w *DeleteWatch) fileDeleted(e FileDeleted) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished || !slices.Contains(w.services, e.Service) ||
		slices.ContainsFunc(w.confirmed, func(x FileDeleted) bool { return x.Service == e.Service }) {
		return
	}
	w.confirmed = append(w.confirmed, e)
	if len(w.confirmed) == len(w.services) {
		w.finished = true
		close(w.done)
	}
}

func (w *DeleteWatch) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.finished {
		w.err, w.finished = err, true
		close(w.done)
	}
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
