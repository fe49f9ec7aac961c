package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// storeFromLog stores a decided file from its chunks in the log, streamed
// into storage, and checks they are the bytes both services counted. A
// file that is not whole in the log (retention ran out) cannot be stored:
// the error wraps domain.ErrNotStaged, and its count goes to the poison
// topic. The log being unreachable is retried.
func (h *PlaceFileHandler) storeFromLog(ctx context.Context, u *domain.Upload) error {
	h.log.InfoContext(ctx, "storing a file from the log", "upload_id", u.ID, "partition", u.InLog.Partition, "offset", u.InLog.Offset)
	pr, pw := io.Pipe()
	read := make(chan error, 1)
	go func() {
		err := h.copyFromLog(ctx, u, pw)
		pw.CloseWithError(err)
		read <- err
	}()
	err := h.disk.WriteStored(ctx, u.ID, pr, u.Size)
	pr.CloseWithError(errors.New("storage stopped reading"))
	rerr := <-read
	if err == nil && rerr != nil {
		// Stored, then found not to be the file counted (storage took its
		// size in bytes before the check at the end failed the read).
		h.removeUnlessKept(ctx, u.ID)
	}
	if rerr != nil {
		err = rerr
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, domain.ErrNotStaged) {
		h.log.ErrorContext(ctx, "decided to keep a file the log no longer has whole", "upload_id", u.ID, "error", err)
		return fmt.Errorf("store file %s: %w", u.ID, err)
	}
	return fmt.Errorf("%w: store file %s from the log: %w", domain.ErrUnavailable, u.ID, err)
}

// copyFromLog writes the upload's chunks from the log to w, in order, and
// fails with domain.ErrNotStaged if they are not the file counted.
func (h *PlaceFileHandler) copyFromLog(ctx context.Context, u *domain.Upload, w io.Writer) error {
	hash := sha256.New()
	var at int64
	err := h.chunks.Chunks(ctx, *u.InLog, u.ID, func(c *messages.StoreChunk) (bool, error) {
		switch {
		case c.Offset < at:
			return true, nil // sent twice: written already
		case c.Offset > at:
			return false, fmt.Errorf("%w: the log has bytes %d on of upload %s, not %d", domain.ErrNotStaged, c.Offset, u.ID, at)
		}
		hash.Write(c.Data)
		if _, err := w.Write(c.Data); err != nil {
			return false, err
		}
		at += int64(len(c.Data))
		return !c.Last, nil
	})
	if err != nil {
		return err
	}
	if sum := hex.EncodeToString(hash.Sum(nil)); at != u.Size || sum != u.SHA256 {
		return fmt.Errorf("%w: the log holds %d bytes hashing to %s of upload %s, counted were %d hashing to %s",
			domain.ErrNotStaged, at, sum, u.ID, u.Size, u.SHA256)
	}
	return nil
}

// removeUnlessKept removes a stored file that is not the one counted,
// unless the upload's record says it is held: another replica committed
// the right bytes under the same name meanwhile. A write that failed left
// nothing under the name (WriteStored never exposes part of a file).
func (h *PlaceFileHandler) removeUnlessKept(ctx context.Context, id string) {
	if u, err := uploadOrNil(ctx, h.uploads, id); err != nil || u != nil && u.Kept {
		return
	}
	if err := h.disk.RemoveStored(ctx, id); err != nil {
		h.log.WarnContext(ctx, "cannot remove a stored file that is not the one counted; a later start removes it", "upload_id", id, "error", err)
	}
}
