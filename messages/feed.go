package messages

import (
	"context"
	"fmt"
	"slices"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// feed is a running subscription to TopicEvents.
type feed struct {
	cancel context.CancelFunc
	done   chan struct{}
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
