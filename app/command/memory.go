package command

import (
	"sync"
	"time"
)

// memory holds the bytes of files of one chunk between their staging and
// their placement, instead of a staged file on disk. Such a file's bytes
// are in the message log anyway (its chunk command, acknowledged by every
// replica before the service saw it), so holding them costs no durability:
// after a restart, or once evicted, the placement reads the chunk back from
// the log. On small files the staged file was most of the disk work of an
// upload — a create, a write, an fsync and an unlink or a rename in each
// service — and the service that does not keep the file now does none.
//
// The bytes held are bounded; a file that does not fit is staged on disk as
// a large one is. Entries older than memoryMaxAge are evicted to make room
// (their placement reads from the log), so uploads whose placement waits
// for a service that is down cannot hold the room for ever.
type memory struct {
	limit int

	mu    sync.Mutex
	held  map[string]memoryEntry
	bytes int
}

type memoryEntry struct {
	data []byte
	at   time.Time
}

const memoryMaxAge = 10 * time.Second

func newMemory(limit int) *memory { return &memory{limit: limit, held: map[string]memoryEntry{}} }

// hold keeps data for upload id if there is room, and reports whether it
// did. data must not change afterwards.
func (m *memory) hold(id string, data []byte) bool {
	if len(data) > m.limit {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.held[id]; ok {
		m.bytes -= len(old.data)
	}
	if m.bytes+len(data) > m.limit {
		m.evictLocked(time.Now().Add(-memoryMaxAge))
	}
	if m.bytes+len(data) > m.limit {
		delete(m.held, id)
		return false
	}
	m.held[id] = memoryEntry{data: data, at: time.Now()}
	m.bytes += len(data)
	return true
}

// fits reports whether n bytes could be held now.
func (m *memory) fits(n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return n <= m.limit && (m.bytes+n <= m.limit || m.oldestLocked().Before(time.Now().Add(-memoryMaxAge)))
}

func (m *memory) evictLocked(before time.Time) {
	for id, e := range m.held {
		if e.at.Before(before) {
			delete(m.held, id)
			m.bytes -= len(e.data)
		}
	}
}

func (m *memory) oldestLocked() time.Time {
	oldest := time.Now()
	for _, e := range m.held {
		if e.at.Before(oldest) {
			oldest = e.at
		}
	}
	return oldest
}

// get returns the bytes held for upload id.
func (m *memory) get(id string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.held[id]
	return e.data, ok
}

// forget drops what is held for upload id, and reports whether there was
// anything.
func (m *memory) forget(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.held[id]
	if ok {
		delete(m.held, id)
		m.bytes -= len(e.data)
	}
	return ok
}

// size reports how many files and bytes are held.
func (m *memory) size() (files, bytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.held), m.bytes
}
