package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/baum-store/baum/app/bits"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// stageInMemory stages a file of one chunk without touching the disk: its
// bytes are hashed and counted here and held in memory until the placement,
// while they stay in the message log at at. The record says so (InLog), in
// the commit that records the count, before the count is published: a
// placement after a restart reads the bytes back from there.
func (h *StageChunkHandler) stageInMemory(ctx context.Context, c *messages.StoreChunk, at domain.ChunkRecord) error {
	sum := sha256.Sum256(c.Data)
	if got := hex.EncodeToString(sum[:]); got != c.SHA256 {
		return h.failUpload(ctx, c.UploadID, messages.ReasonChecksumMismatch,
			fmt.Sprintf("staged bytes hash to %s, the upload declares %s", got, c.SHA256))
	}
	count := bits.Count(h.staging.kind, c.Data)
	var (
		staged *domain.Upload
		hold   bool
	)
	err := h.uploads.Update(ctx, c.UploadID, func(u *domain.Upload, _ FileIndex) error {
		staged, hold = nil, false
		u.Describe(c.Name, c.ContentType, c.Origin)
		switch {
		case u.State == domain.Failed || u.StagingError != "" || u.Deleted:
			return nil // given up meanwhile: nothing to stage
		case u.Staged:
			// Delivered again (after a restart): counted before, and the
			// count may not have gone out. Hold the bytes again if the
			// placement may still need them.
			hold = u.InLog != nil && !u.Kept && !u.Done() && (!u.Decided() || u.Keeps(h.self))
		default:
			u.FinishStaging(c.Size, c.SHA256, count)
			u.InLog, hold = &at, true
		}
		staged = u
		return nil
	})
	if err != nil || staged == nil {
		return err
	}
	if hold {
		h.staging.memory.hold(c.UploadID, c.Data)
	}
	h.metrics.BytesCounted(len(c.Data))
	if err := h.publishCount(ctx, staged); err != nil {
		return err
	}
	h.log.InfoContext(ctx, "upload staged", "upload_id", c.UploadID, "size", c.Size,
		"sha256", c.SHA256, domain.BitKind(h.self).String()+"_bits", staged.StagedCount, "in", "memory")
	return nil
}
