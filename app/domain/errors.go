package domain

import "errors"

var (
	// ErrUnavailable wraps failures of a dependency that may heal by itself
	// (database or broker down, disk not writable). Messages that fail with
	// it are redelivered until they succeed; they are never poisoned.
	ErrUnavailable = errors.New("dependency unavailable")
	// ErrNotFound is returned by queries for what this service does not hold.
	ErrNotFound = errors.New("not found")
	// ErrStorageFull wraps a write that failed for lack of disk space.
	ErrStorageFull = errors.New("storage full")
	// ErrNotStaged says that a file to be stored was never staged here (nor
	// stored before): its bytes are not on this service's disk and waiting
	// will not bring them.
	ErrNotStaged = errors.New("not staged")
)
