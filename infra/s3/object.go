package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/baum-store/baum/app/domain"
)

// OpenStored implements query.StoredFiles: the object's size comes from a
// stat, and its bytes are read from where the reader was sought to with a
// ranged GET, streamed: never the whole object in memory. A file that is
// not stored is domain.ErrNotFound.
func (s *Store) OpenStored(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	key, err := s.key(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", domain.ErrNotFound, err)
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if missing, err := s.objectMissing(ctx, key, err); !missing {
			return nil, err
		}
		return nil, fmt.Errorf("%w: stored file %s", domain.ErrNotFound, id)
	}
	return &object{ctx: ctx, store: s, key: key, size: info.Size, etag: info.ETag}, nil
}

// object reads one stored object from an offset on. http.ServeContent
// seeks to a Range's first byte, then reads its length: a Seek drops the
// GET in flight (if it was elsewhere), and the next Read asks for the
// bytes from the new offset to the end. Asking to the end, not for the
// length, which the reader is not told: a body closed early costs the
// connection, and the server at most its socket buffers of bytes sent.
type object struct {
	ctx   context.Context
	store *Store
	key   string
	size  int64
	// etag pins the object that was stat'ed: a ranged GET of other bytes
	// under the same name (an id's bytes never change, but a person may
	// overwrite the object) fails instead of mixing two files.
	etag string

	off  int64
	body io.ReadCloser
}

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if o.body == nil {
		if err := o.open(); err != nil {
			return 0, err
		}
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if errors.Is(err, io.EOF) && o.off < o.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// open starts a GET of the bytes from off to the end. SetRange(off, 0)
// would ask for the first byte alone when off is 0: the last byte is named.
func (o *object) open() error {
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(o.off, o.size-1); err != nil {
		return err
	}
	if o.etag != "" {
		if err := opts.SetMatchETag(o.etag); err != nil {
			return err
		}
	}
	body, _, _, err := o.store.core.GetObject(o.ctx, o.store.bucket, o.key, opts)
	if err != nil {
		return classify(o.ctx, err, "read "+o.key)
	}
	o.body = body
	return nil
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.size
	case io.SeekStart:
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	if offset != o.off {
		o.drop()
		o.off = offset
	}
	return offset, nil
}

func (o *object) drop() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

func (o *object) Close() error {
	o.drop()
	return nil
}
