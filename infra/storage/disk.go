// Package storage keeps a service's file bytes on its local disk: staged
// files while an upload's chunks arrive, stored files once placed. Paths come
// only from upload ids (UUIDs), never from anything a client names.
package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
)

// Disk is a data directory with two subdirectories on one filesystem, so a
// placement is an atomic rename:
//
//	staging/<id>          files whose chunks are arriving
//	files/<xx>/<id>       stored files, fanned out by the id's last two hex digits
type Disk struct {
	staging string
	files   string
	// syncs counts fsync and syncfs calls: the cost that durability puts
	// on every upload (docs/benchmarks.md).
	syncs  *atomic.Int64
	syncer *syncer
}

// Open prepares dir (creating it and its subdirectories) and returns its Disk.
func Open(dir string) (*Disk, error) {
	d := &Disk{staging: filepath.Join(dir, "staging"), files: filepath.Join(dir, "files"), syncs: &atomic.Int64{}}
	for _, p := range []string{d.staging, d.files} {
		if err := os.MkdirAll(p, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	// Every fan-out directory now, so that storing a file needs no mkdir.
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(d.files, fmt.Sprintf("%02x", i)), 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	d.syncer = &syncer{root: dir, calls: func() { d.syncs.Add(1) }}
	return d, nil
}

// Check verifies that the data directory is writable.
func (d *Disk) Check() error {
	f, err := os.CreateTemp(d.staging, ".check-*")
	if err != nil {
		return wrap(err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func checkID(id string) error {
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return fmt.Errorf("%q is not a canonical UUID", id)
	}
	return nil
}

func (d *Disk) stagedPath(id string) string { return filepath.Join(d.staging, id) }

func (d *Disk) storedPath(id string) string {
	return filepath.Join(d.files, id[len(id)-2:], id)
}

// StoredPath returns where a stored file lives, for reading it.
func (d *Disk) StoredPath(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return d.storedPath(id), nil
}

// OpenStored opens a stored file for reading (query.StoredFiles). A file
// that is not stored is domain.ErrNotFound. On Unix an open file stays readable
// even if a delete removes it meanwhile, so a download that has started
// always finishes.
func (d *Disk) OpenStored(id string) (io.ReadSeekCloser, error) {
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

// OpenStaged implements command.Disk.
func (d *Disk) OpenStaged(id string) (command.StagedFile, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(d.stagedPath(id), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, wrap(err)
	}
	return stagedFile{f, d.syncer}, nil
}

// Syncs reports how many fsync calls the disk has made.
func (d *Disk) Syncs() int64 { return d.syncs.Load() }

type stagedFile struct {
	f      *os.File
	syncer *syncer
}

func (s stagedFile) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	return n, wrap(err)
}

func (s stagedFile) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

func (s stagedFile) Size() (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s stagedFile) Truncate(size int64) error { return wrap(s.f.Truncate(size)) }
func (s stagedFile) Close() error              { return s.f.Close() }

// Sync flushes the staged file, with the files other handlers flush at the
// same time.
func (s stagedFile) Sync() error { return s.syncer.sync(s.f) }

// WriteStored implements command.Disk: the file is written in place and
// flushed with its directory (with what other handlers flush at the same
// time). A crash half-way leaves a stored file without metadata, which the
// next start removes.
func (d *Disk) WriteStored(id string, data []byte) error {
	if err := checkID(id); err != nil {
		return err
	}
	path := d.storedPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return wrap(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return wrap(err)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return d.syncer.sync(f, dir)
}

// RemoveStaged implements command.Disk.
func (d *Disk) RemoveStaged(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return removeIfExists(d.stagedPath(id))
}

// RemoveStored implements command.Disk.
func (d *Disk) RemoveStored(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return removeIfExists(d.storedPath(id))
}

// StoredExists implements command.Disk.
func (d *Disk) StoredExists(id string) (bool, error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	return exists(d.storedPath(id))
}

// Promote implements command.Disk: rename, then sync both directories so the
// move survives a power cut.
func (d *Disk) Promote(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	from, to := d.stagedPath(id), d.storedPath(id)
	if err := os.Rename(from, to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if ok, _ := exists(to); ok {
				return nil // promoted before
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
	return d.syncDirs(filepath.Dir(to), d.staging)
}

// Demote implements command.Disk.
func (d *Disk) Demote(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := os.Rename(d.storedPath(id), d.stagedPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrap(err)
	}
	return nil
}

// ListStaged implements command.Disk.
func (d *Disk) ListStaged() ([]string, error) {
	entries, err := os.ReadDir(d.staging)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if checkID(e.Name()) == nil {
			ids = append(ids, e.Name())
		} else if strings.HasPrefix(e.Name(), ".check-") {
			os.Remove(filepath.Join(d.staging, e.Name()))
		}
	}
	return ids, nil
}

// ListStored implements command.Disk.
func (d *Disk) ListStored() ([]string, error) {
	var ids []string
	err := filepath.WalkDir(d.files, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && checkID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
		return nil
	})
	return ids, err
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrap(err)
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// syncDirs makes renames in dirs durable: their directories are flushed,
// with what other handlers flush at the same time.
func (d *Disk) syncDirs(dirs ...string) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, dir := range dirs {
		f, err := os.Open(dir)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	return d.syncer.sync(files...)
}

// wrap marks a write that failed for lack of space as domain.ErrStorageFull.
func wrap(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", domain.ErrStorageFull, err)
	}
	return err
}

var _ command.Disk = (*Disk)(nil)
