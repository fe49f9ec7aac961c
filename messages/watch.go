package messages

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

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

// UploadWatch follows one upload's events. Its view is the services' own:
// they decide the placement from the same events in the same order.
type UploadWatch struct {
	client *Client
	id     string

	mu       sync.Mutex
	tally    Tally // as the services keep it
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
	p := Placement{UploadID: w.id, Size: w.tally.Size, SHA256: w.tally.SHA256,
		Keepers: slices.Clone(w.tally.Keepers), StoredIn: slices.Clone(w.storedIn)}
	if w.tally.ZeroBits != nil {
		p.ZeroBits = *w.tally.ZeroBits
	}
	if w.tally.OneBits != nil {
		p.OneBits = *w.tally.OneBits
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
	case w.tally.Decided():
		return fmt.Sprintf("placed in %v, stored in %v so far", w.tally.Keepers, w.storedIn)
	case w.tally.ZeroBits != nil || w.tally.OneBits != nil:
		return "one service counted it, the other not yet"
	}
	return "no service has counted it yet"
}

func (w *UploadWatch) bitsCounted(e BitsCounted) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	// A CountMismatch is the services' to act on: they fail the upload
	// (count_mismatch), and the watch ends with their UploadFailed.
	_, _ = w.tally.Record(e)
}

func (w *UploadWatch) fileStored(e FileStored) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	if !w.tally.Decided() {
		// The counts went by before the watch (or were missed): a keeper's
		// FileStored carries them too.
		z, o := e.ZeroBits, e.OneBits
		w.tally = Tally{Size: e.Size, SHA256: e.SHA256, ZeroBits: &z, OneBits: &o, Keepers: Keepers(z, o)}
	}
	if !slices.Contains(w.storedIn, e.Service) {
		w.storedIn = append(w.storedIn, e.Service)
		slices.SortFunc(w.storedIn, func(a, b Service) int {
			return slices.Index(Services(), a) - slices.Index(Services(), b)
		})
	}
	if slices.Equal(w.storedIn, w.tally.Keepers) {
		w.finishLocked()
	}
}

func (w *UploadWatch) uploadFailed(e UploadFailed) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A failure after the placement was decided changes nothing: the
	// services go on storing it.
	if w.finished || w.tally.Decided() {
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
