// Package command holds the use cases that change a service's state: staging
// chunks, recording bit counts and placing files, failures, deletes. Each
// handler takes a message of the public contract (package messages) and is
// idempotent: handling a message twice has the effect of handling it once.
package command

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/baum-store/baum/messages"

	"github.com/baum-store/baum/app/domain"
)

// Uploads keeps this service's upload records and the metadata and totals of
// the files it holds.
type Uploads interface {
	// Get returns the upload's record, or an error wrapping domain.ErrNotFound.
	Get(ctx context.Context, id string) (*domain.Upload, error)
	// Update runs fn on the upload's record (domain.NewUpload(id) if there is
	// none) in one database transaction that holds it locked, then saves it.
	// What fn does through files commits in the same transaction; if fn
	// returns an error nothing is saved. Updates may share a transaction
	// (group commit); each returns once its own changes committed, and the
	// store hands each changed record to the service's notifier, which
	// wakes the waits of this process.
	Update(ctx context.Context, id string, fn func(u *domain.Upload, files FileIndex) error) error
	// DeleteFile removes a held file's metadata, lowers the totals and marks
	// its upload deleted, in one transaction. It reports whether there was a
	// file to delete.
	DeleteFile(ctx context.Context, id string) (domain.File, bool, error)
	// Stalled lists uploads still receiving whose record has not changed for
	// at least the given age in seconds.
	Stalled(ctx context.Context, olderThanSeconds float64) ([]string, error)
	// FileIDs lists the ids of every held file.
	FileIDs(ctx context.Context) (map[string]bool, error)
}

// FileIndex changes the metadata and totals of held files inside an Update.
type FileIndex interface {
	// Add records a held file and adds it to the totals. Adding a file that is
	// already recorded changes nothing.
	Add(ctx context.Context, f domain.File) error
}

// Disk keeps this replica's staged files (uploads in progress) and the
// role's stored files (held), which all its replicas share: a directory or
// a bucket. Ids are upload UUIDs; a client's file name never reaches it.
type Disk interface {
	// OpenStaged opens the upload's staged file, creating it empty if needed.
	// Writes append at its end.
	OpenStaged(id string) (StagedFile, error)
	// RemoveStaged removes a staged file; a missing one is not an error.
	RemoveStaged(id string) error
	// ListStaged lists the ids this replica stages.
	ListStaged() ([]string, error)

	// Promote stores the staged file id, of size bytes (-1: not checked),
	// durably; the staged
	// file stays until RemoveStaged (a placement that does not commit is
	// undone by RemoveStored alone). A file already stored is not an
	// error; one neither staged nor stored, or staged here with another
	// size (a part: the rest was staged by another replica), is
	// domain.ErrNotStaged.
	Promote(ctx context.Context, id string, size int64) error
	// WriteStored stores the size bytes r holds as the file id, durably,
	// replacing what may be stored under that id: the placement of a file
	// staged in memory or read back from the log.
	WriteStored(ctx context.Context, id string, r io.Reader, size int64) error
	// RemoveStored removes a stored file; a missing one is not an error.
	RemoveStored(ctx context.Context, id string) error
	// StoredExists reports whether a stored file exists.
	StoredExists(ctx context.Context, id string) (bool, error)
	// ListStored lists every stored file, with when it was written.
	ListStored(ctx context.Context) ([]StoredFile, error)
}

// StoredFile is a file in storage, as ListStored sees it.
type StoredFile struct {
	ID      string
	Written time.Time
}

// StagedFile is an upload's file while its chunks arrive.
type StagedFile interface {
	io.Writer
	io.ReaderAt
	Size() (int64, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// ChunkLog reads an upload's chunk commands back from the message log, from
// its first chunk (domain.Upload.InLog): what a service stages from there
// when it does not hold it itself.
type ChunkLog interface {
	// Chunks hands each of upload id's chunks, in order, to each, starting
	// with the one at from, until each says no more (false), the last chunk
	// was handed over, or ctx ends. Chunks of other uploads between them
	// are skipped. The log's end before the last chunk is an error.
	Chunks(ctx context.Context, from domain.ChunkRecord, id string, each func(*messages.StoreChunk) (more bool, err error)) error
}

// LocateChunk tells where in the message log the chunk command being
// handled is (false: it did not come from the log, e.g. in a test).
type LocateChunk func(ctx context.Context) (domain.ChunkRecord, bool)

// EventPublisher publishes events of the contract; *cqrs.EventBus is one.
type EventPublisher interface {
	Publish(ctx context.Context, event any) error
}

// CommandSender sends one command of the contract; *cqrs.CommandBus is one.
type CommandSender = messages.CommandSender

// observers are what the handlers tell of their work: monitoring and the
// log. The zero value tells nobody. (Waiters in this process hear of
// changes from the store, which hands the notifier each committed record:
// see Uploads.Update.)
type observers struct {
	metrics domain.Metrics
	log     *slog.Logger
}

func newObservers(metrics domain.Metrics, log *slog.Logger) observers {
	if metrics == nil {
		metrics = domain.NopMetrics{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return observers{metrics: metrics, log: log}
}

func validSelf(self messages.Service) error {
	if _, err := messages.ParseService(string(self)); err != nil {
		return fmt.Errorf("Self: %w", err)
	}
	return nil
}

// missing reports a dependency that is nil.
func missing(name string, isNil bool) error {
	if isNil {
		return fmt.Errorf("missing %s", name)
	}
	return nil
}
