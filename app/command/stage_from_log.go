package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// locateFirst tells where chunk c is in the log if it is its upload's
// first: what the upload's record keeps (InLog).
func (h *StageChunkHandler) locateFirst(ctx context.Context, c *messages.StoreChunk) (domain.ChunkRecord, bool) {
	if c.Offset != 0 || h.locate == nil {
		return domain.ChunkRecord{}, false
	}
	return h.locate(ctx)
}

// fillFromLog stages the chunks of st's upload between what is staged here
// and chunk c from the log, where the upload's first chunk is: a partition
// that moved here from another replica in the middle of an upload, or a
// replica that gave its copy up, goes on from there. What the log does not
// have is left for Handle to report as a chunk gap.
func (h *StageChunkHandler) fillFromLog(ctx context.Context, st *stream, c *messages.StoreChunk) error {
	if h.chunks == nil {
		return nil
	}
	u, err := h.uploads.Get(ctx, c.UploadID)
	if errors.Is(err, domain.ErrNotFound) || err == nil && u.InLog == nil {
		return nil // nothing staged anywhere, as far as anyone recorded
	} else if err != nil {
		return err
	}
	from := st.pos
	err = h.chunks.Chunks(ctx, *u.InLog, c.UploadID, func(l *messages.StoreChunk) (bool, error) {
		end := l.Offset + int64(len(l.Data))
		switch {
		case l.Offset >= c.Offset:
			return false, nil // the chunk being handled, or later: done
		case end <= st.pos:
			return true, nil // staged here already
		case l.Offset > st.pos:
			return false, nil // a gap in the log too
		case l.Offset < st.pos:
			if err := h.staging.rewind(st, l.Offset); err != nil {
				return false, stagingWriteError{err}
			}
		}
		if err := st.write(l.Data); err != nil {
			return false, stagingWriteError{err}
		}
		h.metrics.BytesCounted(len(l.Data))
		return true, nil
	})
	switch {
	case errors.Is(err, domain.ErrNotStaged):
		return nil // not in the log (retention): a gap
	case errors.As(err, new(stagingWriteError)):
		return err
	case err != nil:
		return fmt.Errorf("%w: stage upload %s from the log: %w", domain.ErrUnavailable, c.UploadID, err)
	}
	h.log.InfoContext(ctx, "staged from the log what another replica staged", "upload_id", c.UploadID,
		"from_byte", from, "to_byte", st.pos)
	return nil
}

// stagingWriteError is a failure of this replica's disk while it stages from
// the log: the upload fails as a staging error does (Handle).
type stagingWriteError struct{ err error }

func (e stagingWriteError) Error() string { return e.err.Error() }
func (e stagingWriteError) Unwrap() error { return e.err }
