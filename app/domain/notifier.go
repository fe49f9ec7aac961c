package domain

import "sync"

// Notifier tells waiters in this process that an upload changed. It lets an
// HTTP request that waits for a placement wake up as soon as the event
// handler commits it, instead of polling the database.
type Notifier struct {
	mu      sync.Mutex
	waiters map[string][]chan struct{}
}

// NewNotifier returns an empty Notifier.
func NewNotifier() *Notifier {
	return &Notifier{waiters: map[string][]chan struct{}{}}
}

// Watch returns a channel closed at the next change of upload id, and a
// function that stops watching.
func (n *Notifier) Watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	n.mu.Lock()
	n.waiters[id] = append(n.waiters[id], ch)
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		list := n.waiters[id]
		for i, c := range list {
			if c == ch {
				n.waiters[id] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(n.waiters[id]) == 0 {
			delete(n.waiters, id)
		}
	}
}

// Notify wakes everyone watching upload id.
func (n *Notifier) Notify(id string) {
	n.mu.Lock()
	list := n.waiters[id]
	delete(n.waiters, id)
	n.mu.Unlock()
	for _, ch := range list {
		close(ch)
	}
}
