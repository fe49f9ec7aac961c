package command

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// StageChunkHandler stages the chunks of every upload in this service's
// staging area. On the last chunk it verifies size and SHA-256, records the
// count of this service's bit kind and publishes BitsCounted.
type StageChunkHandler struct {
	self       messages.Service
	uploads    Uploads
	staging    *Staging
	events     EventPublisher
	syncStaged bool
	locate     LocateChunk
	chunks     ChunkLog
	observers
}

// StageChunkConfig configures a StageChunkHandler.
type StageChunkConfig struct {
	// Self is the service the handler runs in.
	Self messages.Service
	// Uploads keeps the upload records.
	Uploads Uploads
	// Staging holds the staged files (and counts this service's bits).
	Staging *Staging
	// Events publishes BitsCounted and UploadFailed.
	Events EventPublisher
	// SyncStaged makes the last chunk wait for the staged file to reach the
	// disk (fsync) before the count is published.
	SyncStaged bool
	// Locate tells where the chunk being handled is in the message log.
	// With it, a file of one chunk is staged in memory (see memory), and
	// every upload's record says where its first chunk is; nil stages every
	// file on disk.
	Locate LocateChunk
	// Chunks reads the chunks of an upload back from the log: those staged
	// by another replica before its partition came here. nil: a chunk past
	// what is staged here fails the upload (chunk gap).
	Chunks ChunkLog
	// Metrics and Log are told of the work; each may be nil.
	Metrics domain.Metrics
	Log     *slog.Logger
}

// Validate reports every missing dependency.
func (c StageChunkConfig) Validate() error {
	return errors.Join(validSelf(c.Self), missing("Uploads", c.Uploads == nil), missing("Staging", c.Staging == nil),
		missing("Events", c.Events == nil))
}

// NewStageChunkHandler returns a StageChunkHandler.
func NewStageChunkHandler(config StageChunkConfig) (*StageChunkHandler, error) {
	if err := config.Validate(); err != nil {
		return nil, fmt.Errorf("stage chunk: %w", err)
	}
	return &StageChunkHandler{self: config.Self, uploads: config.Uploads, staging: config.Staging, events: config.Events,
		syncStaged: config.SyncStaged, locate: config.Locate, chunks: config.Chunks, observers: newObservers(config.Metrics, config.Log)}, nil
}

// progressEvery is how often the received byte count of an upload is saved.
// The stalled-upload sweep relies on it moving while chunks arrive.
const progressEvery = time.Second

// Handle stages one chunk.
func (h *StageChunkHandler) Handle(ctx context.Context, c *messages.StoreChunk) error {
	if c.Offset == 0 && c.Last && h.locate != nil && h.staging.memory.fits(len(c.Data)) {
		if at, ok := h.locate(ctx); ok {
			return h.stageInMemory(ctx, c, at)
		}
	}
	st := h.staging.acquire(c.UploadID)
	defer h.staging.release(st)

	end := c.Offset + int64(len(c.Data))
	if st.file == nil {
		ready, err := h.resume(ctx, st, c, end)
		if err != nil || !ready {
			return err
		}
	}

	if c.Offset > st.pos {
		// The chunks before this one were staged elsewhere (the partition
		// came from another replica) or not kept here: stage them from
		// the log.
		if err := h.fillFromLog(ctx, st, c); err != nil {
			if we, ok := errors.AsType[stagingWriteError](err); ok {
				return h.failStorage(ctx, st, we.err)
			}
			return err
		}
	}
	switch {
	case c.Offset > st.pos:
		return h.fail(ctx, st, messages.ReasonChunkGap, fmt.Sprintf("chunk %d starts at byte %d but only %d bytes are staged", c.Index, c.Offset, st.pos))
	case c.Last && end < st.pos:
		return h.fail(ctx, st, messages.ReasonSizeMismatch, fmt.Sprintf("the last chunk ends at byte %d but %d bytes are staged", end, st.pos))
	case end < st.pos || end == st.pos && !c.Last:
		return nil // delivered before: already staged, hashed and counted
	case end > st.pos:
		if c.Offset < st.pos {
			// Half written before a crash: write it again from its start.
			if err := h.staging.rewind(st, c.Offset); err != nil {
				return h.failStorage(ctx, st, err)
			}
		}
		if err := st.write(c.Data); err != nil {
			return h.failStorage(ctx, st, err)
		}
		h.metrics.BytesCounted(len(c.Data))
	}
	if c.Last {
		return h.finish(ctx, st, c)
	}
	return h.saveProgress(ctx, st, c)
}

// resume finds out where an upload this process has no open file for stands,
// and opens its staged file. It reports false if the chunk needs no staging.
func (h *StageChunkHandler) resume(ctx context.Context, st *stream, c *messages.StoreChunk, end int64) (bool, error) {
	u, err := h.uploads.Get(ctx, c.UploadID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		u = nil
	case err != nil:
		return false, err
	}
	if u != nil {
		switch {
		case u.State == domain.Failed || u.StagingError != "" || u.Deleted:
			return false, h.staging.disk.RemoveStaged(c.UploadID)
		case u.Staged:
			if c.Last {
				// Counted before; the event may not have gone out.
				return false, h.publishCount(ctx, u)
			}
			return false, nil
		}
	}
	// The upload is described in the commit that saves its progress (the
	// first chunk's, at once) or, for a file of one chunk, in the one that
	// records its count: no commit of its own.
	if err := h.staging.open(st, c.Offset, end); err != nil {
		return false, h.failStorage(ctx, st, err)
	}
	return true, nil
}

func (h *StageChunkHandler) finish(ctx context.Context, st *stream, c *messages.StoreChunk) error {
	if st.pos != c.Size {
		return h.fail(ctx, st, messages.ReasonSizeMismatch, fmt.Sprintf("staged %d bytes, the upload declares %d", st.pos, c.Size))
	}
	sum := hex.EncodeToString(st.sum())
	if sum != c.SHA256 {
		return h.fail(ctx, st, messages.ReasonChecksumMismatch, fmt.Sprintf("staged bytes hash to %s, the upload declares %s", sum, c.SHA256))
	}
	if h.syncStaged {
		if err := st.file.Sync(); err != nil {
			return h.failStorage(ctx, st, err)
		}
	}
	count := st.counter.Count()
	at, located := h.locateFirst(ctx, c)
	var staged *domain.Upload
	err := h.uploads.Update(ctx, c.UploadID, func(u *domain.Upload, _ FileIndex) error {
		u.Describe(c.Name, c.ContentType, c.Origin)
		if located && u.InLog == nil {
			u.InLog = &at
		}
		if u.State == domain.Failed {
			return nil
		}
		u.FinishStaging(c.Size, sum, count)
		staged = u
		return nil
	})
	if err != nil {
		return err
	}
	if staged == nil { // failed meanwhile
		h.staging.drop(st)
		return h.staging.disk.RemoveStaged(c.UploadID)
	}
	if err := h.publishCount(ctx, staged); err != nil {
		return err
	}
	h.staging.drop(st) // the staged file stays until the placement is decided
	h.log.InfoContext(ctx, "upload staged", "upload_id", c.UploadID, "size", c.Size,
		"sha256", sum, domain.BitKind(h.self).String()+"_bits", count)
	return nil
}

func (h *StageChunkHandler) publishCount(ctx context.Context, u *domain.Upload) error {
	return publish(ctx, h.events, messages.BitsCounted{
		UploadID: u.ID, Service: h.self, Bit: domain.BitKind(h.self).String(), Count: u.StagedCount,
		Size: u.Size, SHA256: u.SHA256, At: time.Now().UTC(),
	})
}

func (h *StageChunkHandler) saveProgress(ctx context.Context, st *stream, c *messages.StoreChunk) error {
	now := time.Now().UnixNano()
	if now-st.savedAt < int64(progressEvery) {
		return nil
	}
	pos := st.pos
	at, located := h.locateFirst(ctx, c)
	if err := h.uploads.Update(ctx, c.UploadID, func(u *domain.Upload, _ FileIndex) error {
		u.Describe(c.Name, c.ContentType, c.Origin)
		if located && u.InLog == nil {
			u.InLog = &at
		}
		if !u.Staged && pos > u.ReceivedBytes {
			u.ReceivedBytes = pos
		}
		return nil
	}); err != nil {
		return err
	}
	st.savedAt = now
	return nil
}

func (h *StageChunkHandler) failStorage(ctx context.Context, st *stream, err error) error {
	reason := messages.ReasonStorageError
	if errors.Is(err, domain.ErrStorageFull) {
		reason = messages.ReasonStorageFull
	}
	return h.fail(ctx, st, reason, "staging: "+err.Error())
}

// fail gives the upload up: this service's staged copy goes at once, and the
// UploadFailed event tells every service (this one included) to drop it.
func (h *StageChunkHandler) fail(ctx context.Context, st *stream, reason, detail string) error {
	h.staging.drop(st)
	if err := h.staging.disk.RemoveStaged(st.id); err != nil {
		h.log.WarnContext(ctx, "cannot remove staged file", "upload_id", st.id, "error", err)
	}
	return h.failUpload(ctx, st.id, reason, detail)
}

// failUpload records why staging gave up and publishes UploadFailed.
func (h *StageChunkHandler) failUpload(ctx context.Context, id, reason, detail string) error {
	if err := h.uploads.Update(ctx, id, func(u *domain.Upload, _ FileIndex) error {
		if !u.Done() && u.StagingError == "" {
			u.StagingError = reason
		}
		return nil
	}); err != nil {
		return err
	}
	h.log.WarnContext(ctx, "upload failed while staging", "upload_id", id, "reason", reason, "detail", detail)
	return publish(ctx, h.events, messages.UploadFailed{
		UploadID: id, Service: h.self, Reason: reason, Detail: detail, At: time.Now().UTC(),
	})
}
