// Package storage keeps a service's file bytes in a directory: this
// replica's staged files while an upload's chunks arrive, and the role's
// stored files once placed (a directory its replicas may share). Paths come
// only from upload ids (UUIDs), never from anything a client names.
package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
)

// Disk is a data directory with two subdirectories on one filesystem, so
// that storing a staged file is a hard link, not a copy:
//
//	staging/<instance>/<id>  this replica's files whose chunks are arriving
//	files/<xx>/<id>          the role's stored files, fanned out by the id's last two hex digits
//
// Replicas of a role may share the directory (a shared volume): each stages
// in a directory of its own, so that none ever writes a file another is
// writing, and all store into files/.
type Disk struct {
	staging string
	files   string
	// syncs counts fsync and syncfs calls: the cost that durability puts
	// on every upload (docs/benchmarks.md).
	syncs  *atomic.Int64
	syncer *syncer
	// direct, with Config.DirectWrites, keeps the aligned buffers of
	// direct writes (see direct.go); nil writes through the page cache.
	direct *directBuffers
}

// Config configures a Disk.
type Config struct {
	// Dir is the data directory.
	Dir string
	// Instance names this replica: it stages in staging/<Instance>. Empty:
	// in staging itself (one process on the directory, as in tests).
	Instance string
	// StagingOnly leaves out files/: another adapter (a bucket) keeps the
	// stored files, and an empty files/ would only mislead an operator.
	StagingOnly bool
	// DirectWrites writes a staged file from its second chunk on with
	// O_DIRECT, bypassing the page cache (see direct.go), where the
	// filesystem supports it. For a service that flushes each staged file
	// before counting it (BAUM_FSYNC).
	DirectWrites bool
}

// Open prepares dir (creating it and its subdirectories) and returns its
// Disk, staging in dir/staging.
func Open(dir string) (*Disk, error) { return OpenWithConfig(Config{Dir: dir}) }

// OpenWithConfig prepares the data directory (creating it and its
// subdirectories) and returns its Disk. Staged files an earlier version
// left in staging itself move to this replica's staging directory.
func OpenWithConfig(c Config) (*Disk, error) {
	if strings.ContainsAny(c.Instance, `/\`) || c.Instance == "." || c.Instance == ".." {
		return nil, fmt.Errorf("instance %q cannot name a directory", c.Instance)
	}
	top := filepath.Join(c.Dir, "staging")
	d := &Disk{staging: filepath.Join(top, c.Instance), files: filepath.Join(c.Dir, "files"), syncs: &atomic.Int64{}}
	if err := os.MkdirAll(d.staging, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if !c.StagingOnly {
		if err := makeFanOut(d.files); err != nil {
			return nil, err
		}
	}
	if c.Instance != "" {
		if err := adoptStaged(top, d.staging); err != nil {
			return nil, err
		}
	}
	d.syncer = &syncer{root: c.Dir, calls: func() { d.syncs.Add(1) }}
	if c.DirectWrites {
		d.direct = newDirectBuffers(2)
	}
	return d, nil
}

// makeFanOut creates files/ and every fan-out directory in it now, so that
// storing a file needs no mkdir.
func makeFanOut(files string) error {
	if err := os.MkdirAll(files, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(files, fmt.Sprintf("%02x", i)), 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	return nil
}

// adoptStaged moves staged files from the top of the staging directory (the
// layout before replicas) into this replica's.
func adoptStaged(top, mine string) error {
	entries, err := os.ReadDir(top)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && checkID(e.Name()) == nil {
			if err := os.Rename(filepath.Join(top, e.Name()), filepath.Join(mine, e.Name())); err != nil {
				return fmt.Errorf("data directory: %w", err)
			}
		}
	}
	return nil
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

// OpenStaged implements command.Disk.
func (d *Disk) OpenStaged(id string) (command.StagedFile, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(d.stagedPath(id), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, wrap(err)
	}
	return &stagedFile{f: f, syncer: d.syncer, path: d.stagedPath(id), bufs: d.direct}, nil
}

// ReadStaged opens the upload's staged file for reading only (an adapter
// that stores elsewhere uploads it from there). A file that is not staged
// is fs.ErrNotExist; unlike OpenStaged, it creates nothing.
func (d *Disk) ReadStaged(id string) (*os.File, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return os.Open(d.stagedPath(id))
}

// StagingExists reports whether this replica's staging directory is there:
// without it the disk itself is missing (unmounted?), which may pass, while
// a file missing from it will not come back.
func (d *Disk) StagingExists() bool {
	ok, _ := exists(d.staging)
	return ok
}

// Syncs reports how many fsync calls the disk has made.
func (d *Disk) Syncs() int64 { return d.syncs.Load() }

// stagedFile is a staged file open for appending: through the page cache,
// or with bufs set, its aligned parts past the first chunk with O_DIRECT
// (a second descriptor, opened at the first write past the start: a file
// of one chunk costs no more system calls than before).
type stagedFile struct {
	f      *os.File
	syncer *syncer
	path   string
	bufs   *directBuffers
	direct *directFile // nil until opened, or where refused
	tried  bool        // direct was opened, or refused
	end    int64       // the file's size, with bufs, once known
	known  bool
}

func (s *stagedFile) Write(p []byte) (int, error) {
	if s.bufs != nil && !s.known {
		end, err := s.Size()
		if err != nil {
			return 0, err
		}
		s.end, s.known = end, true
	}
	if s.bufs == nil || s.end == 0 || !s.openDirect() {
		n, err := s.appendBuffered(p)
		return n, wrap(err)
	}
	n, err := s.writeSplit(p)
	if errors.Is(err, unix.EINVAL) {
		// The filesystem refused the alignment: on through the page cache.
		s.direct.close()
		s.direct = nil
		m, berr := s.appendBuffered(p[n:])
		n, err = n+m, berr
	}
	return n, wrap(err)
}

// openDirect opens the direct descriptor once, and reports whether there is one.
func (s *stagedFile) openDirect() bool {
	if !s.tried {
		s.tried = true
		s.direct = openDirect(s.path, s.bufs)
	}
	return s.direct != nil
}

// writeSplit writes p at the end of the file: the head up to the next
// 4 KiB boundary and the tail past the last one through the page cache,
// the aligned middle with O_DIRECT.
func (s *stagedFile) writeSplit(p []byte) (int, error) {
	head := min(int((directAlign-s.end%directAlign)%directAlign), len(p))
	n, err := s.appendBuffered(p[:head])
	if err != nil {
		return n, err
	}
	if mid := (len(p) - head) / directAlign * directAlign; mid > 0 {
		m, err := s.direct.writeAt(p[head:head+mid], s.end)
		s.end += int64(m)
		n += m
		if err != nil {
			return n, err
		}
	}
	m, err := s.appendBuffered(p[n:])
	return n + m, err
}

// appendBuffered appends p through the page cache (the file is O_APPEND).
func (s *stagedFile) appendBuffered(p []byte) (int, error) {
	n, err := s.f.Write(p)
	s.end += int64(n)
	return n, err
}

func (s *stagedFile) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

func (s *stagedFile) Size() (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s *stagedFile) Truncate(size int64) error {
	if err := s.f.Truncate(size); err != nil {
		return wrap(err)
	}
	s.end, s.known = size, true
	return nil
}

func (s *stagedFile) Close() error {
	if s.direct != nil {
		s.direct.close()
	}
	return s.f.Close()
}

// Sync flushes the staged file, with the files other handlers flush at the
// same time.
func (s *stagedFile) Sync() error { return s.syncer.sync(s.f) }

// RemoveStaged implements command.Disk.
func (d *Disk) RemoveStaged(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return removeIfExists(d.stagedPath(id))
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
