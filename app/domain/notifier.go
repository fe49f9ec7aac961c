package domain

import (
	"slices"
	"sync"
)

// Notifier tells waiters in this process that an upload changed. It lets an
// HTTP request that waits for a placement wake up as soon as the change
// commits, instead of polling the database; when the store hands it the
// committed record (Committed), the waiter needs no database read at all.
type Notifier struct {
	mu      sync.Mutex
	watches map[string][]*Watch
}

// NewNotifier returns an empty Notifier.
func NewNotifier() *Notifier {
	return &Notifier{watches: map[string][]*Watch{}}
}

// Watch follows the changes of one upload until it is stopped.
type Watch struct {
	signal chan struct{} // one pending wake-up at most

	mu     sync.Mutex
	latest *Upload // the last committed record handed over; nil if unknown
	stale  bool    // changed since latest: read it again
}

// Changed is signalled at each change after the watch began (changes that
// come close together may share one signal).
func (w *Watch) Changed() <-chan struct{} { return w.signal }

// Latest returns the upload as the last change left it, if the one that
// changed it said, and false if the change must be read from the store.
func (w *Watch) Latest() (*Upload, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stale || w.latest == nil {
		return nil, false
	}
	return w.latest, true
}

func (w *Watch) wake(u *Upload) {
	w.mu.Lock()
	w.latest, w.stale = u, u == nil
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Watch starts following upload id, and returns a function that stops.
func (n *Notifier) Watch(id string) (*Watch, func()) {
	w := &Watch{signal: make(chan struct{}, 1)}
	n.mu.Lock()
	n.watches[id] = append(n.watches[id], w)
	n.mu.Unlock()
	return w, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		list := n.watches[id]
		for i, x := range list {
			if x == w {
				n.watches[id] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(n.watches[id]) == 0 {
			delete(n.watches, id)
		}
	}
}

// Notify wakes everyone watching upload id: it changed; read it again.
func (n *Notifier) Notify(id string) { n.wake(id, nil) }

// Committed wakes everyone watching u's upload with the record as it was
// committed. u is not changed afterwards.
func (n *Notifier) Committed(u *Upload) { n.wake(u.ID, u) }

func (n *Notifier) wake(id string, u *Upload) {
	n.mu.Lock()
	list := slices.Clone(n.watches[id])
	n.mu.Unlock()
	for _, w := range list {
		w.wake(u)
	}
}
