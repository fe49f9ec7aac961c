package command

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/baum-store/baum/app/bits"
)

// Staging holds the open staged files of uploads whose chunks are arriving,
// with the running SHA-256 and bit count of what was written so far, so each
// chunk is hashed and counted once, as it passes: one pass over the bytes.
//
// Within that pass the three jobs overlap instead of adding up. SHA-256 is
// by far the slowest (about 1.3 GB/s with SHA-NI, against tens of GB/s for
// the bit count), so each upload has a hashing goroutine of its own: a chunk
// is handed to it, then written to the staged file and counted while it is
// hashed, and the handler returns (its message is acknowledged, the next
// chunk fetched) without waiting for the hash. Only the last chunk waits,
// for the sum it must verify. A handed-over chunk is never changed, so the
// hasher may read it while the handler goes on.
//
// Chunks of one upload arrive in order on one partition, so one goroutine
// works on an upload at a time; the per-upload lock only guards against the
// event handler discarding it meanwhile.
type Staging struct {
	disk   Disk
	kind   bits.Kind
	config StagingConfig

	mu      sync.Mutex
	streams map[string]*stream
	memory  *memory
}

// StagingConfig configures a Staging.
type StagingConfig struct {
	// Disk keeps the staged files.
	Disk Disk
	// Kind is the bit this service counts.
	Kind bits.Kind
	// HashDepth is how many chunks an upload's hasher may lag behind the
	// staged file. It bounds the memory held per upload (HashDepth+1 chunks
	// at most); more does not help, since the hasher is the slowest stage
	// and 2 is enough to keep it busy. Default 2.
	HashDepth int
	// NewHash returns the hash that verifies staged files. Default
	// sha256.New, which the contract fixes; tests replace it to watch the
	// hashing.
	NewHash func() hash.Hash
	// MemoryBytes bounds the bytes of one-chunk files held in memory
	// between staging and placement instead of staged on disk (see memory).
	// Default DefaultStagingMemory; -1 stages every file on disk.
	MemoryBytes int
}

// DefaultStagingMemory is a Staging's default MemoryBytes: room for the
// files of one chunk in flight at once under load (32 uploads of 64 KiB
// take 2 MiB), well inside a service's memory budget.
const DefaultStagingMemory = 8 << 20

func (c *StagingConfig) setDefaults() {
	if c.HashDepth == 0 {
		c.HashDepth = 2
	}
	if c.NewHash == nil {
		c.NewHash = sha256.New
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = DefaultStagingMemory
	}
}

// Validate reports every bad field.
func (c StagingConfig) Validate() error {
	var errs []error
	if c.Disk == nil {
		errs = append(errs, errors.New("missing Disk"))
	}
	if c.Kind != bits.Zero && c.Kind != bits.One {
		errs = append(errs, fmt.Errorf("invalid bit kind %s", c.Kind))
	}
	if c.HashDepth < 1 {
		errs = append(errs, fmt.Errorf("HashDepth %d must be at least 1", c.HashDepth))
	}
	return errors.Join(errs...)
}

// NewStaging returns an empty Staging that counts bits of kind, with the
// default configuration.
func NewStaging(disk Disk, kind bits.Kind) *Staging {
	s, err := NewStagingWithConfig(StagingConfig{Disk: disk, Kind: kind})
	if err != nil {
		panic(err) // only a nil disk or an invalid kind get here: a programming error
	}
	return s
}

// NewStagingWithConfig returns an empty Staging.
func NewStagingWithConfig(config StagingConfig) (*Staging, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	return &Staging{disk: config.Disk, kind: config.Kind, config: config, streams: map[string]*stream{},
		memory: newMemory(max(config.MemoryBytes, 0))}, nil
}

type stream struct {
	mu      sync.Mutex
	id      string
	gone    bool // discarded or finished: look the upload up again
	file    StagedFile
	hasher  *hasher
	counter *bits.Counter
	pos     int64 // bytes staged and counted (and handed to the hasher)
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

// drop closes the stream's file, stops its hasher and forgets it. Called
// with st locked.
func (s *Staging) drop(st *stream) {
	if st.file != nil {
		st.file.Close()
		st.file = nil
	}
	if st.hasher != nil {
		st.hasher.stop()
		st.hasher = nil
	}
	st.gone = true
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

// Discard drops the upload's stream, if open, and what is staged of it, in
// memory and on disk.
func (s *Staging) Discard(id string) error {
	if s.memory.forget(id) {
		return nil // staged in memory: nothing of it on disk
	}
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
	if st.hasher != nil {
		st.hasher.stop()
		st.hasher = nil
	}
	h, counter := s.config.NewHash(), bits.NewCounter(s.kind)
	st.pos = 0
	if n > 0 {
		// Rare (a restart, a redelivered half-written chunk), so read back
		// in line.
		if _, err := io.Copy(io.MultiWriter(h, counter), io.NewSectionReader(st.file, 0, n)); err != nil {
			return err
		}
	}
	st.hasher, st.counter, st.pos = newHasher(h, s.config.HashDepth), counter, n
	return nil
}

// write appends data to the staged file and counts it, while the hasher
// hashes it. data must not change afterwards.
func (st *stream) write(data []byte) error {
	st.hasher.write(data) // first, so the hash runs during the write and the count
	if _, err := st.file.Write(data); err != nil {
		return err
	}
	st.counter.Write(data)
	st.pos += int64(len(data))
	return nil
}

// sum waits for the hasher to catch up and returns the SHA-256 of
// everything written.
func (st *stream) sum() []byte { return st.hasher.sum() }

// hasher hashes one upload's chunks in a goroutine of its own, in order.
type hasher struct {
	jobs chan hashJob
	// abandoned tells the goroutine to skip what is still queued after
	// stop: a dropped upload's hash is never read.
	abandoned chan struct{}
}

// hashJob is a chunk to hash, or (sum != nil) a request for the sum of
// every chunk before it.
type hashJob struct {
	data []byte
	sum  chan []byte
}

func newHasher(h hash.Hash, depth int) *hasher {
	hs := &hasher{jobs: make(chan hashJob, depth), abandoned: make(chan struct{})}
	go hs.run(h)
	return hs
}

func (hs *hasher) run(h hash.Hash) {
	for job := range hs.jobs {
		select {
		case <-hs.abandoned:
			continue // drain without hashing
		default:
		}
		if job.sum != nil {
			job.sum <- h.Sum(nil)
			continue
		}
		h.Write(job.data)
	}
}

// write queues a chunk; it blocks while the hasher is HashDepth chunks
// behind, which bounds the memory an upload holds.
func (hs *hasher) write(p []byte) { hs.jobs <- hashJob{data: p} }

func (hs *hasher) sum() []byte {
	reply := make(chan []byte, 1)
	hs.jobs <- hashJob{sum: reply}
	return <-reply
}

// stop ends the goroutine once its queue is drained, unhashed.
func (hs *hasher) stop() {
	close(hs.abandoned)
	close(hs.jobs)
}
