package command

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/baum-store/baum/app/bits"
)

// Staging holds the open staged files of uploads whose chunks are arriving,
// with the running SHA-256 and bit count of what was written so far, so each
// chunk is hashed and counted once, as it passes.
//
// Chunks of one upload arrive in order on one partition, so one goroutine
// works on an upload at a time; the per-upload lock only guards against the
// event handler discarding it meanwhile.
type Staging struct {
	disk Disk
	kind bits.Kind

	mu      sync.Mutex
	streams map[string]*stream
}

// NewStaging returns an empty Staging that counts bits of kind.
func NewStaging(disk Disk, kind bits.Kind) *Staging {
	return &Staging{disk: disk, kind: kind, streams: map[string]*stream{}}
}

type stream struct {
	mu      sync.Mutex
	id      string
	gone    bool // discarded or finished: look the upload up again
	file    StagedFile
	hash    hash.Hash
	counter *bits.Counter
	pos     int64 // bytes staged, hashed and counted
	savedAt int64 // when pos was last saved to the upload record (unix nanos)
}

// acquire returns the upload's stream, locked. Its file is nil if this
// process has not opened it yet.
func (s *Staging) acquire(id string) *stream {
	for {
		s.mu.Lock()
		st, ok := s.streams[id]
		if !ok {
			st = &stream{id: id}
			s.streams[id] = st
		}
		s.mu.Unlock()
		st.mu.Lock()
		if !st.gone {
			return st
		}
		st.mu.Unlock()
	}
}

// release unlocks a stream; one that never opened a file is dropped.
func (s *Staging) release(st *stream) {
	if st.file == nil && !st.gone {
		s.drop(st)
	}
	st.mu.Unlock()
}

// drop closes the stream's file and forgets it. Called with st locked.
func (s *Staging) drop(st *stream) {
	if st.file != nil {
		st.file.Close()
		st.file = nil
	}
	st.gone = true
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

// Discard drops the upload's stream, if open, and removes its staged file.
func (s *Staging) Discard(id string) error {
	s.mu.Lock()
	st, ok := s.streams[id]
	s.mu.Unlock()
	if ok {
		st.mu.Lock()
		s.drop(st)
		st.mu.Unlock()
	}
	return s.disk.RemoveStaged(id)
}

// Open reports how many uploads have a staged file open.
func (s *Staging) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// open opens the staged file for a chunk spanning [offset, end) and positions
// the stream where that chunk goes: at its start, or at the end of what is
// staged if the chunk was staged before or starts past the end (a gap the
// caller reports).
func (s *Staging) open(st *stream, offset, end int64) error {
	f, err := s.disk.OpenStaged(st.id)
	if err != nil {
		return err
	}
	st.file = f
	size, err := f.Size()
	if err != nil {
		return err
	}
	at := offset
	if end <= size || offset > size {
		at = size
	}
	return s.rewind(st, at)
}

// rewind cuts the staged file to n bytes and rebuilds the hash and count of
// those bytes by reading them back (after a restart, or when a chunk that was
// half written is delivered again).
func (s *Staging) rewind(st *stream, n int64) error {
	size, err := st.file.Size()
	if err != nil {
		return err
	}
	if n > size {
		return fmt.Errorf("cannot rewind to %d: only %d bytes staged", n, size)
	}
	if n < size {
		if err := st.file.Truncate(n); err != nil {
			return err
		}
	}
	st.hash, st.counter, st.pos = sha256.New(), bits.NewCounter(s.kind), 0
	if n > 0 {
		if _, err := io.Copy(io.MultiWriter(st.hash, st.counter), io.NewSectionReader(st.file, 0, n)); err != nil {
			return err
		}
	}
	st.pos = n
	return nil
}

// write appends data to the staged file, hashing and counting it.
func (st *stream) write(data []byte) error {
	if _, err := st.file.Write(data); err != nil {
		return err
	}
	st.hash.Write(data)
	st.counter.Write(data)
	st.pos += int64(len(data))
	return nil
}
