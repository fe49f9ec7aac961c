package storage_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/baum-store/baum/infra/storage"
)

// directDisk opens a Disk with DirectWrites, skipping the test where the
// temporary directory's filesystem has no O_DIRECT (tmpfs).
func directDisk(t *testing.T) (*storage.Disk, string) {
	t.Helper()
	dir := t.TempDir()
	probe, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_CREATE|os.O_WRONLY|unix.O_DIRECT, 0o600)
	if err != nil {
		t.Skipf("no O_DIRECT on %s: %v", dir, err)
	}
	probe.Close()
	d, err := storage.OpenWithConfig(storage.Config{Dir: dir, DirectWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	return d, dir
}

// resident counts the pages of path in [from, to) that are in the page cache.
func resident(t *testing.T, path string, from, to int) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, to, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (to+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(m))), uintptr(len(m)),
		uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec[from/page:] {
		n += int(v & 1)
	}
	return n
}

// TestDirectWritesBypassThePageCache: with DirectWrites, a staged file's
// first chunk goes through the page cache (a file of one chunk is written
// as before), the later ones do not.
func TestDirectWritesBypassThePageCache(t *testing.T) {
	d, dir := directDisk(t)
	id := uuid.NewString()
	f, err := d.OpenStaged(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const chunk = 768 << 10
	data := make([]byte, 2*chunk+1000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	for _, p := range [][]byte{data[:chunk], data[chunk : 2*chunk], data[2*chunk:]} {
		if _, err := f.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "staging", id)
	if n := resident(t, path, 0, chunk); n != chunk/os.Getpagesize() {
		t.Fatalf("%d pages of the first chunk in the page cache; want all %d", n, chunk/os.Getpagesize())
	}
	if n := resident(t, path, chunk, 2*chunk); n != 0 {
		t.Fatalf("%d pages of the second chunk in the page cache; want none (written with O_DIRECT)", n)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatalf("the staged file holds %d bytes, not the %d written", len(got), len(data))
	}
}

// TestDirectWritesKeepEveryByte: writes of any size at any offset, and a
// truncation between them (a rewind), leave exactly the bytes written.
func TestDirectWritesKeepEveryByte(t *testing.T) {
	d, dir := directDisk(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][]int{
		{1000, 1000, 5000, 4096, 4096, 3},
		{4096, 8192*3 + 7, 1 << 20, 4095, 1, 4097},
		{768 << 10, 768 << 10, 2 << 20, 12345},
	} {
		id := uuid.NewString()
		f, err := d.OpenStaged(id)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for i, n := range sizes {
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			if w, err := f.Write(p); err != nil || w != n {
				t.Fatalf("write of %d bytes: %d, %v", n, w, err)
			}
			want = append(want, p...)
			if i == 3 { // a rewind to an unaligned size
				cut := int64(len(want) - 777)
				if err := f.Truncate(cut); err != nil {
					t.Fatal(err)
				}
				want = want[:cut]
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got, _ := os.ReadFile(filepath.Join(dir, "staging", id)); !bytes.Equal(got, want) {
			t.Fatalf("sizes %v: the staged file differs from what was written (%d bytes, want %d)", sizes, len(got), len(want))
		}
	}
}
