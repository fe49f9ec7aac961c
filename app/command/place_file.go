package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// PlaceFileHandler records the services' bit counts. The BitsCounted event
// that makes both counts known decides the placement: a keeper moves its
// staged file into storage and commits metadata and totals in the same
// transaction, then publishes FileStored; a service that does not keep the
// file drops its staged copy.
type PlaceFileHandler struct {
	self    messages.Service
	uploads Uploads
	disk    Disk
	staging *Staging
	chunks  ChunkLog
	events  EventPublisher
	observers
}

// PlaceFileConfig configures a PlaceFileHandler.
type PlaceFileConfig struct {
	// Self is the service the handler runs in.
	Self messages.Service
	// Uploads keeps the upload records, the held files and their totals.
	Uploads Uploads
	// Disk moves a kept file from staging into storage.
	Disk Disk
	// Staging drops the staged copy of a file this service does not keep,
	// and holds the files staged in memory.
	Staging *Staging
	// Chunks reads back from the log a decided file this replica does not
	// hold (staged in memory before a restart, or staged by another
	// replica). nil: such a file cannot be stored here.
	Chunks ChunkLog
	// Events publishes FileStored and UploadFailed.
	Events EventPublisher
	// Metrics and Log are told of the work; each may be nil.
	Metrics domain.Metrics
	Log     *slog.Logger
}

// Validate reports every missing dependency.
func (c PlaceFileConfig) Validate() error {
	return errors.Join(validSelf(c.Self), missing("Uploads", c.Uploads == nil), missing("Disk", c.Disk == nil),
		missing("Staging", c.Staging == nil), missing("Events", c.Events == nil))
}

// NewPlaceFileHandler returns a PlaceFileHandler.
func NewPlaceFileHandler(config PlaceFileConfig) (*PlaceFileHandler, error) {
	if err := config.Validate(); err != nil {
		return nil, fmt.Errorf("place file: %w", err)
	}
	return &PlaceFileHandler{self: config.Self, uploads: config.Uploads, disk: config.Disk, staging: config.Staging,
		chunks: config.Chunks, events: config.Events, observers: newObservers(config.Metrics, config.Log)}, nil
}

// placement is what recording one count decided, inside the upload's
// transaction; the handler acts on it once the transaction is over.
type placement struct {
	decided  []messages.Service // the keepers, if this count decided them
	promoted bool               // this service moved the file into storage
	kept     bool               // the file was held here before this count
	drop     bool               // this service's staged copy goes
	failed   string             // the reason, if this count failed the upload
	event    messages.Message   // what to publish once committed
}

// Handle records one count.
func (h *PlaceFileHandler) Handle(ctx context.Context, e *messages.BitsCounted) error {
	ahead, err := h.storeAhead(ctx, e)
	if err != nil {
		return err
	}
	var p placement
	err = h.uploads.Update(ctx, e.UploadID, func(u *domain.Upload, files FileIndex) (err error) {
		p, err = h.decide(ctx, u, e, files, ahead)
		return err
	})
	if err != nil {
		// The stored copy stays: whether the transaction committed is not
		// known, another replica may have committed the same file under the
		// same name meanwhile, and the count delivered again finds it
		// stored. Start-up repair removes it if no placement ever commits.
		return err
	}
	if ahead && !p.promoted && !p.kept {
		// Committed, and the count, looked at again under the lock, did not
		// keep it here after all (failed or deleted meanwhile).
		h.unstore(ctx, e.UploadID)
	}
	return h.act(ctx, e, p)
}

// storeAhead stores the file before the transaction that records the count,
// when that count decides to keep it here and the file is not staged in
// memory; it reports whether it did. Storing inside the transaction holds
// the upload's row, and with it every Update of the same group commit,
// for as long as the bytes take to move: an fsync, an S3 PUT of gigabytes
// (about 110 MB/s to a local gateway), a read back from the log. The
// transaction decides again under the lock; Handle undoes what it does not
// commit, and start-up repair what a crash leaves.
func (h *PlaceFileHandler) storeAhead(ctx context.Context, e *messages.BitsCounted) (bool, error) {
	if _, inMemory := h.staging.memory.get(e.UploadID); inMemory {
		return false, nil // small: written inside the transaction, no extra read
	}
	u, err := h.uploads.Get(ctx, e.UploadID)
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if u.Kept {
		return false, nil
	}
	// u is this handler's copy: recording the count on it saves nothing.
	if decided, err := u.RecordCount(*e); err != nil || !decided || !u.Keeps(h.self) {
		return false, nil
	}
	return true, h.store(ctx, u)
}

// unstore undoes storing a file whose metadata did not commit: the stored
// copy goes; the staged one (or the log) still has the bytes.
func (h *PlaceFileHandler) unstore(ctx context.Context, id string) {
	if err := h.disk.RemoveStored(ctx, id); err != nil {
		h.log.ErrorContext(ctx, "cannot undo storing a file whose metadata did not commit; a later start repairs it",
			"upload_id", id, "error", err)
	}
}

// decide records the count on the upload and, if it decides the placement
// for this service, stores the file (unless stored says storeAhead did).
// It reports what it did even when it
// fails, so that a promotion can be undone.
func (h *PlaceFileHandler) decide(ctx context.Context, u *domain.Upload, e *messages.BitsCounted, files FileIndex, stored bool) (placement, error) {
	if u.Kept {
		return placement{kept: true, event: h.stored(u)}, nil // delivered again: the first FileStored may not have gone out
	}
	decided, err := u.RecordCount(*e)
	var mismatch domain.CountMismatch
	switch {
	case errors.As(err, &mismatch):
		if !u.Fail(h.self, messages.ReasonCountMismatch, mismatch.Detail) {
			return placement{}, nil
		}
		return placement{drop: true, failed: messages.ReasonCountMismatch, event: messages.UploadFailed{UploadID: u.ID,
			Service: h.self, Reason: messages.ReasonCountMismatch, Detail: mismatch.Detail, At: time.Now().UTC()}}, nil
	case err != nil:
		return placement{}, err
	case !decided:
		return placement{}, nil
	}
	p := placement{decided: u.Keepers}
	if !u.Keeps(h.self) {
		p.drop = true
		return p, nil
	}
	if !stored {
		if err := h.store(ctx, u); err != nil {
			return p, err
		}
	}
	p.promoted = true
	if err := files.Add(ctx, u.File()); err != nil {
		return p, err
	}
	u.Kept = true
	// Stored here as of this commit: this service's own FileStored, when
	// it comes back, has nothing to add (RecordStoredHandler skips it),
	// and a keeper alone is placed at once.
	u.RecordStored(h.self)
	p.event = h.stored(u)
	return p, nil
}

// store puts the decided file into storage, from where this replica has
// it: a file staged in memory is written from memory; a staged file is
// promoted; one staged by no one here (after a restart, or by another
// replica) is read back from the log.
func (h *PlaceFileHandler) store(ctx context.Context, u *domain.Upload) error {
	if data, ok := h.staging.memory.get(u.ID); ok {
		if err := h.disk.WriteStored(ctx, u.ID, bytes.NewReader(data), int64(len(data))); err != nil {
			return fmt.Errorf("%w: store file %s: %w", domain.ErrUnavailable, u.ID, err)
		}
		return nil
	}
	err := h.disk.Promote(ctx, u.ID, u.Size)
	switch {
	case errors.Is(err, domain.ErrNotStaged) && u.InLog != nil && h.chunks != nil:
		return h.storeFromLog(ctx, u)
	case errors.Is(err, domain.ErrNotStaged):
		// Counts for an upload this service never staged (replayed from
		// elsewhere, or its staged file was lost): retrying cannot store
		// it, so the event goes to the poison topic, where an operator can
		// replay it once the bytes are back, and the partition moves on.
		h.log.ErrorContext(ctx, "decided to keep a file whose staged copy is gone", "upload_id", u.ID, "error", err)
		return fmt.Errorf("store file %s: %w", u.ID, err)
	case err != nil:
		// Never give up a decided file: retry until the disk lets us.
		return fmt.Errorf("%w: store file %s: %w", domain.ErrUnavailable, u.ID, err)
	}
	return nil
}

// act does what the committed decision calls for: metrics, dropping the
// staged copy, waking the waiters, publishing.
func (h *PlaceFileHandler) act(ctx context.Context, e *messages.BitsCounted, p placement) error {
	if p.decided != nil {
		h.metrics.PlacementDecided(p.decided)
	}
	if p.promoted {
		// Stored and committed: the staged copy, in memory or on disk, goes.
		if err := h.staging.Discard(e.UploadID); err != nil {
			h.log.WarnContext(ctx, "cannot remove staged file; a later start removes it", "upload_id", e.UploadID, "error", err)
		}
		h.metrics.FileStored(e.Size)
		h.log.InfoContext(ctx, "file stored", "upload_id", e.UploadID)
	}
	if p.failed != "" {
		h.metrics.UploadFailed(p.failed)
	}
	if p.drop {
		if err := h.staging.Discard(e.UploadID); err != nil {
			h.log.WarnContext(ctx, "cannot remove staged file; the next start removes it", "upload_id", e.UploadID, "error", err)
		}
	}
	if p.event == nil {
		return nil
	}
	return publish(ctx, h.events, p.event)
}

func (h *PlaceFileHandler) stored(u *domain.Upload) messages.FileStored {
	return messages.FileStored{FileID: u.ID, Service: h.self, Name: u.Name, ContentType: u.ContentType,
		Size: u.Size, SHA256: u.SHA256, ZeroBits: *u.ZeroBits, OneBits: *u.OneBits, At: u.File().StoredAt}
}
