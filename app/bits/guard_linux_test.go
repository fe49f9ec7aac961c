//go:build linux

package bits_test

import (
	"syscall"
	"testing"

	"github.com/baum-store/baum/app/bits"
)

// TestNoOverread places inputs directly before and directly after an
// inaccessible page: a kernel that reads even one byte outside its slice
// (say, a whole vector or word for a short tail) faults instead of passing.
func TestNoOverread(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(mem[2*page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	mid := mem[page : 2*page : 2*page]
	copy(mid, randBytes(11, page))

	var ns []int
	for n := 0; n <= 300; n++ {
		ns = append(ns, n)
	}
	ns = append(ns, 511, 1000, page-1, page)
	for _, n := range ns {
		for _, p := range [][]byte{mid[:n:n], mid[page-n:]} { // at the start / at the end of the page
			want := naiveOnes(p)
			for _, k := range bits.Kernels() {
				if got := k.Fn(p); got != want {
					t.Fatalf("kernel %s(len %d) = %d, want %d", k.Name, n, got, want)
				}
			}
		}
	}
}
