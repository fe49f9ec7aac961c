package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

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
	if err := d.link(from, to); err != nil {
		switch {
		case errors.Is(err, fs.ErrExist):
			// Promoted before, or written by another replica (whole: a
			// stored name is never partial), unless a power cut took the
			// end of a write: then it is replaced.
			if whole, err := storedWhole(to, size); err != nil || whole {
				return wrap(err)
			}
			return d.replace(from, to)
		case errors.Is(err, fs.ErrNotExist):
			if whole, err := storedWhole(to, size); err == nil && whole {
				return nil // promoted, and the staged name gone since
			} else if err == nil {
				return fmt.Errorf("%w: upload %s is stored short and not staged here", domain.ErrNotStaged, id)
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

// link hard-links a staged file into storage and marks it written now: a
// link keeps the inode's times, the staged file's last write, which may be
// long ago, and start-up repair on another replica takes a stored file
// without metadata for an orphan once it is older than its grace.
func (d *Disk) link(from, to string) error {
	if err := os.Link(from, to); err != nil {
		return err
	}
	now := time.Now()
	return os.Chtimes(to, now, now)
}

// WriteStored implements command.Disk: the file is written under a name of
// its own, flushed, and renamed into place, its directory flushed with it
// (with what other handlers flush at the same time). So a stored name
// never holds part of a file: a crash half-way, or another replica storing
// the same file at the same time, leaves at worst a temporary file, which
// ListStored does not list and RemoveTemporary removes.
func (d *Disk) WriteStored(_ context.Context, id string, r io.Reader, size int64) error {
	if err := checkID(id); err != nil {
		return err
	}
	path := d.storedPath(id)
	f, err := os.CreateTemp(filepath.Dir(path), "."+id+".*.tmp")
	if err != nil {
		return wrap(err)
	}
	defer f.Close()
	if err := writeTemp(f, r, id, size); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return wrap(err)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	// One flush of both, after the rename: a power cut before it may leave
	// the name with fewer bytes, which Promote's size check refuses.
	return d.syncer.sync(f, dir)
}

// writeTemp copies the size bytes of r into f.
func writeTemp(f *os.File, r io.Reader, id string, size int64) error {
	if err := f.Chmod(0o640); err != nil {
		return wrap(err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		return wrap(err)
	}
	if n != size {
		return fmt.Errorf("stored file %s: %d bytes written, %d expected", id, n, size)
	}
	return nil
}

// storedWhole reports whether the stored file at path has size bytes (any,
// if size < 0).
func storedWhole(path string, size int64) (bool, error) {
	info, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return size < 0 || info.Size() == size, nil
}

// replace puts the staged file from in place of a stored one that lacks
// bytes, through a temporary name (the stored name is never partial).
func (d *Disk) replace(from, to string) error {
	tmp := fmt.Sprintf("%s.%d.tmp", filepath.Join(filepath.Dir(to), "."+filepath.Base(to)), time.Now().UnixNano())
	if err := d.link(from, tmp); err != nil {
		return wrap(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		os.Remove(tmp)
		return wrap(err)
	}
	return d.syncDirs(filepath.Dir(to))
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

// staleTemporary is how old a temporary file of WriteStored or replace
// must be for ListStored to take it for the remains of a write that died.
const staleTemporary = time.Hour

// ListStored implements command.Disk. It also removes the temporary files
// of writes that died more than staleTemporary ago (start-up repair lists).
func (d *Disk) ListStored(context.Context) ([]command.StoredFile, error) {
	var out []command.StoredFile
	err := filepath.WalkDir(d.files, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && isTemporary(e.Name()) {
			if info, ierr := e.Info(); ierr == nil && time.Since(info.ModTime()) > staleTemporary {
				return removeIfExists(path)
			}
		}
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

// isTemporary reports whether name is a temporary file of WriteStored or
// replace: .<id>.<random>.tmp.
func isTemporary(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")
}
