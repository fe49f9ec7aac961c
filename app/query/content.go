package query

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/baum-store/baum/app/domain"
)

// StoredFiles opens the bytes of the files a service holds.
type StoredFiles interface {
	// OpenStored opens a stored file for reading, or fails with an error
	// wrapping domain.ErrNotFound if it is not stored.
	OpenStored(ctx context.Context, id string) (io.ReadSeekCloser, error)
}

// FileContent is a held file's metadata with its bytes open for reading.
// The caller closes Body.
type FileContent struct {
	File domain.File
	Body io.ReadSeekCloser
}

// FileContentHandler opens a held file's content.
type FileContentHandler struct {
	read   ReadModel
	stored StoredFiles
}

// NewFileContentHandler returns a FileContentHandler.
func NewFileContentHandler(read ReadModel, stored StoredFiles) FileContentHandler {
	return FileContentHandler{read: read, stored: stored}
}

// Handle opens the content of file id, or fails with an error wrapping
// domain.ErrNotFound if this service does not hold it. The metadata is the
// authority on what is held: bytes on disk without metadata (a delete that
// crashed half-way) are not served.
func (h FileContentHandler) Handle(ctx context.Context, id string) (FileContent, error) {
	f, err := h.read.File(ctx, id)
	if err != nil {
		return FileContent{}, err
	}
	body, err := h.stored.OpenStored(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		// Deleted between the two reads, it is simply not held any more;
		// still held without its bytes, storage is damaged.
		if _, ferr := h.read.File(ctx, id); ferr == nil {
			return FileContent{}, fmt.Errorf("file %s is held but its bytes are not in storage", id)
		}
	}
	if err != nil {
		return FileContent{}, err
	}
	// Serving bytes that are not the file would be worse than an error.
	size, err := body.Seek(0, io.SeekEnd)
	if err == nil && size != f.Size {
		err = fmt.Errorf("stored file %s has %d bytes, its metadata says %d", id, size, f.Size)
	}
	if err == nil {
		_, err = body.Seek(0, io.SeekStart)
	}
	if err != nil {
		body.Close()
		return FileContent{}, errors.Join(errors.New("cannot read stored file"), err)
	}
	return FileContent{File: f, Body: body}, nil
}
