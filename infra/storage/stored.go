package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
)

// StoredPath returns where a stored file lives, for reading it.
func (d *Disk) StoredPath(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return d.storedPath(id), nil
}

// OpenStored opens a stored file for reading (query.StoredFiles). A file
// that is not stored is domain.ErrNotFound. On Unix an open file stays
// readable even if a delete removes it meanwhile, so a download that has
// started always finishes.
func (d *Disk) OpenStored(_ context.Context, id string) (io.ReadSeekCloser, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", domain.ErrNotFound, err)
	}
	f, err := os.Open(d.storedPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: stored file %s", domain.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Promote implements command.Disk: a hard link from the staged file (if it
// has all its bytes) into
// storage (no copy: one filesystem), then its directory flushed so that it
// survives a power cut. The staged name stays until RemoveStaged.
func (d *Disk) Promote(_ context.Context, id string, size int64) error {
	if err := checkID(id); err != nil {
		return err
	}
	from, to := d.stagedPath(id), d.storedPath(id)
	if info, err := os.Stat(from); err == nil && size >= 0 && info.Size() != size {
		return fmt.Errorf("%w: upload %s has %d of its %d bytes staged here", domain.ErrNotStaged, id, info.Size(), size)
	}
	if err := os.Link(from, to); err != nil {
		switch {
		case errors.Is(err, fs.ErrExist):
			return nil // promoted before
		case errors.Is(err, fs.ErrNotExist):
			if ok, _ := exists(to); ok {
				return nil // promoted, and the staged name gone since
			}
			// With the staging directory in place, the file itself is
			// missing: no retry will bring it. Without it, the disk is
			// not there (unmounted?), which may pass.
			if ok, _ := exists(d.staging); ok {
				return fmt.Errorf("%w: upload %s has no staged file", domain.ErrNotStaged, id)
			}
		}
		return wrap(err)
	}
	return d.syncDirs(filepath.Dir(to))
}

// WriteStored implements command.Disk: the file is written in place and
// flushed with its directory (with what other handlers flush at the same
// time). A crash half-way leaves a stored file without metadata, which a
// later start removes.
func (d *Disk) WriteStored(_ context.Context, id string, r io.Reader, size int64) error {
	if err := checkID(id); err != nil {
		return err
	}
	path := d.storedPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return wrap(err)
	}
	defer f.Close()
	n, err := io.Copy(f, r)
	if err != nil {
		return wrap(err)
	}
	if n != size {
		return fmt.Errorf("stored file %s: %d bytes written, %d expected", id, n, size)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return d.syncer.sync(f, dir)
}

// RemoveStored implements command.Disk.
func (d *Disk) RemoveStored(_ context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return removeIfExists(d.storedPath(id))
}

// StoredExists implements command.Disk.
func (d *Disk) StoredExists(_ context.Context, id string) (bool, error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	return exists(d.storedPath(id))
}

// ListStored implements command.Disk.
func (d *Disk) ListStored(context.Context) ([]command.StoredFile, error) {
	var out []command.StoredFile
	err := filepath.WalkDir(d.files, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || checkID(e.Name()) != nil {
			return err
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		} else if err != nil {
			return err
		}
		out = append(out, command.StoredFile{ID: e.Name(), Written: info.ModTime()})
		return nil
	})
	return out, err
}
