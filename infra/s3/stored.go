package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
)

// putOptions: the bytes are whatever a client sent; the metadata in the
// database, not the object, says what they are.
var putOptions = minio.PutObjectOptions{ContentType: "application/octet-stream"}

// Promote implements command.Disk: the staged file is uploaded, streamed
// from the file (the client sends it in parts of 16 MiB, read from the
// file where they start, when it is larger than one part). The staged name
// stays until RemoveStaged. Uploading again what is already stored writes
// the same bytes: an upload's id never names other bytes.
func (s *Store) Promote(ctx context.Context, id string, size int64) error {
	key, err := s.key(id)
	if err != nil {
		return err
	}
	f, err := s.staging.ReadStaged(id)
	if errors.Is(err, fs.ErrNotExist) {
		return s.notStaged(ctx, id)
	} else if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if size >= 0 && info.Size() != size {
		return fmt.Errorf("%w: upload %s has %d of its %d bytes staged here", domain.ErrNotStaged, id, info.Size(), size)
	}
	up, err := s.client.PutObject(ctx, s.bucket, key, f, info.Size(), putOptions)
	if err != nil {
		return classify(ctx, err, "store "+key)
	}
	if up.Size != info.Size() {
		return fmt.Errorf("%w: store %s: %d bytes stored, %d staged", domain.ErrUnavailable, key, up.Size, info.Size())
	}
	return nil
}

// notStaged answers a Promote of a file with no staged copy here: stored
// already (promoted, and the staged name gone since) is done; otherwise no
// retry will bring it, unless the staging directory itself is gone (a
// disk not mounted), which may pass.
func (s *Store) notStaged(ctx context.Context, id string) error {
	ok, err := s.StoredExists(ctx, id)
	switch {
	case err != nil:
		return err
	case ok:
		return nil
	case !s.staging.StagingExists():
		return fmt.Errorf("%w: upload %s: the staging directory is missing", domain.ErrUnavailable, id)
	}
	return fmt.Errorf("%w: upload %s has no staged file", domain.ErrNotStaged, id)
}

// WriteStored implements command.Disk: r is streamed to the object (in
// parts of 16 MiB, one in memory at a time, when larger than one). An r
// that ends before size bytes fails the upload; one with more than size
// is an error too, though its first size bytes were stored: the caller
// removes them, and a later start removes what a crash left.
func (s *Store) WriteStored(ctx context.Context, id string, r io.Reader, size int64) error {
	key, err := s.key(id)
	if err != nil {
		return err
	}
	// Only r's Read: given a ReaderAt, the client reads through a section
	// of it and leaves r where it was, so what is left in r could not be
	// told.
	counted := &countingReader{r: r}
	if _, err := s.client.PutObject(ctx, s.bucket, key, counted, size, putOptions); err != nil {
		return classify(ctx, err, "store "+key)
	}
	if counted.n != size {
		return fmt.Errorf("stored file %s: %d bytes written, %d expected", id, counted.n, size)
	}
	// The end of r also says whether its writer (the log) agrees the bytes
	// are the file: it closes with an error otherwise.
	if n, err := counted.Read(make([]byte, 1)); n > 0 {
		return fmt.Errorf("stored file %s: more than the %d bytes expected", id, size)
	} else if err != io.EOF {
		return fmt.Errorf("stored file %s: after its %d bytes: %w", id, size, err)
	}
	return nil
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// RemoveStored implements command.Disk. S3 answers a delete of a missing
// object as done.
func (s *Store) RemoveStored(ctx context.Context, id string) error {
	key, err := s.key(id)
	if err != nil {
		return err
	}
	return classify(ctx, s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}), "remove "+key)
}

// StoredExists implements command.Disk.
func (s *Store) StoredExists(ctx context.Context, id string) (bool, error) {
	key, err := s.key(id)
	if err != nil {
		return false, err
	}
	_, err = s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	missing, err := s.objectMissing(ctx, key, err)
	if missing {
		return false, nil
	}
	return false, err
}

// ListStored implements command.Disk: every object under the prefix whose
// name is an id, with when it was written (S3 keeps whole seconds).
// Others (a person's, or a multipart upload's leftovers under another
// name) are not the store's and are left alone.
func (s *Store) ListStored(ctx context.Context) ([]command.StoredFile, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the client's listing goroutine if we return early
	var out []command.StoredFile
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, classify(ctx, obj.Err, "list "+s.bucket+"/"+s.prefix)
		}
		id := strings.TrimPrefix(obj.Key, s.prefix)
		if _, err := s.key(id); err == nil {
			out = append(out, command.StoredFile{ID: id, Written: obj.LastModified})
		}
	}
	return out, nil
}
