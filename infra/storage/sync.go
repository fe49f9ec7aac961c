package storage

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// syncer makes writes durable in groups. A caller asks for its files (a
// staged file, or the directories a rename touched) to be flushed and waits
// for a flush that began after it asked. Callers that ask while a flush
// runs share the next one: a caller alone flushes its own files (fsync),
// several flush the whole filesystem once (syncfs(2)), which covers every
// file of each. Under load, the handlers of many messages flush at once:
// one system call and one disk cache flush for all of them instead of one
// or two each (docs/benchmarks.md).
//
// syncfs writes back every dirty page of the filesystem, a large upload's
// staging included; that is work the large upload's own sync would do
// anyway, only earlier.
type syncer struct {
	root string // a directory on the filesystem, for syncfs
	// calls counts fsync and syncfs calls.
	calls func()

	mu      sync.Mutex
	queue   []syncRequest
	running bool
}

type syncRequest struct {
	files []*os.File
	done  chan error
}

// sync flushes files to disk, alone or with the files of callers that ask
// at the same time.
func (s *syncer) sync(files ...*os.File) error {
	r := syncRequest{files: files, done: make(chan error, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, r)
	if !s.running {
		s.running = true
		go s.loop()
	}
	s.mu.Unlock()
	return <-r.done
}

func (s *syncer) loop() {
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		err := s.flush(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (s *syncer) flush(batch []syncRequest) error {
	if len(batch) == 1 {
		var errs []error
		for _, f := range batch[0].files {
			s.calls()
			errs = append(errs, f.Sync())
		}
		return wrap(errors.Join(errs...))
	}
	// Opened for each flush, not held: an open directory would keep the
	// filesystem busy (a volume could not be unmounted) after the service
	// stopped.
	root, err := os.Open(s.root)
	if err != nil {
		return err
	}
	defer root.Close()
	s.calls()
	return wrap(unix.Syncfs(int(root.Fd())))
}
