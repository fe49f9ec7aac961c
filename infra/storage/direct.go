package storage

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Direct writes: a large staged file bypasses the page cache.
//
// Copying a chunk into the page cache (copy_folio_from_iter_atomic in the
// kernel) was the largest single cost of staging a large upload: a third
// of the CPU of the service that only stages it, more than SHA-256
// (docs/benchmarks.md, "Big files"). With BAUM_FSYNC those bytes must reach
// the disk before the count is published anyway, so from its second chunk
// on a staged file is written with O_DIRECT: the disk reads the bytes from
// an aligned buffer of ours, and the final fsync has little left to flush.
// The bytes before the first 4 KiB boundary and after the last one of each
// write go through the page cache, as does the whole first chunk, so a file
// of one chunk (every small upload) is written as before.

// directAlign is the alignment O_DIRECT needs of memory, offset and length
// here: 4 KiB covers disks of 512-byte and of 4 KiB logical blocks.
const directAlign = 4096

// directBufferSize is the size of one aligned buffer, a chunk's worth
// (messages.MaxChunkSize); a larger write goes in several.
const directBufferSize = 768 << 10

// directFile is a staged file's second descriptor, opened with O_DIRECT.
type directFile struct {
	fd   *os.File
	bufs *directBuffers
}

// openDirect opens path for direct writes, or returns nil where the
// filesystem does not support them (tmpfs, some network filesystems).
func openDirect(path string, bufs *directBuffers) *directFile {
	fd, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return &directFile{fd: fd, bufs: bufs}
}

// writeAt writes p, a multiple of directAlign long, at off, a multiple of
// directAlign, through an aligned buffer.
func (d *directFile) writeAt(p []byte, off int64) (int, error) {
	buf := d.bufs.get()
	defer d.bufs.put(buf)
	written := 0
	for written < len(p) {
		n := copy(buf, p[written:])
		for done := 0; done < n; {
			m, err := unix.Pwrite(int(d.fd.Fd()), buf[done:n], off+int64(written+done))
			if err != nil {
				return written + done, err
			}
			done += m
		}
		written += n
	}
	return written, nil
}

func (d *directFile) close() error { return d.fd.Close() }

// directBuffers keeps a few aligned buffers for the staged files being
// written: one per upload staging at the same moment, at most cap(free)
// kept between writes.
type directBuffers struct {
	free chan []byte
}

func newDirectBuffers(keep int) *directBuffers {
	return &directBuffers{free: make(chan []byte, keep)}
}

func (b *directBuffers) get() []byte {
	select {
	case buf := <-b.free:
		return buf
	default:
	}
	raw := make([]byte, directBufferSize+directAlign)
	skip := int((directAlign - uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%directAlign) % directAlign)
	return raw[skip : skip+directBufferSize : skip+directBufferSize]
}

func (b *directBuffers) put(buf []byte) {
	select {
	case b.free <- buf:
	default:
	}
}
