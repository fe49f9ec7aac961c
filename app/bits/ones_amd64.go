//go:build amd64 && !purego

package bits

import "golang.org/x/sys/cpu"

// The assembly kernels (ones_amd64.s). Each accepts any length, including 0,
// and any alignment: the vector loops use unaligned loads and the last 0..63
// (avx512), 0..31 (avx2) or 0..31 (popcnt) bytes are counted with scalar
// POPCNT on 8-, 4-, 2- and 1-byte loads, so nothing outside p is ever read.

//go:noescape
func onesAVX512(p []byte) uint64

//go:noescape
func onesAVX2(p []byte) uint64

//go:noescape
func onesPOPCNT(p []byte) uint64

// kernel is one implementation of Ones together with whether this CPU (and
// OS, for the vector register state) can run it.
type kernel struct {
	name string
	fn   func([]byte) uint64
	ok   bool
}

// kernels lists every implementation, best first. The feature flags come
// from golang.org/x/sys/cpu, which also checks via XGETBV that the OS saves
// the YMM/ZMM state, so a CPU with AVX-512 under an OS that disabled it falls
// through to avx2.
//
// avx512 is preferred when VPOPCNTDQ exists: only Ice Lake+ and Zen 4+ have
// it, and on those CPUs 512-bit integer work no longer carries the heavy
// frequency penalty of Skylake-SP. Every CPU with AVX2 also has POPCNT, and
// the vector kernels rely on that for their tails.
var kernels = []kernel{
	{"avx512", onesAVX512, cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ && cpu.X86.HasPOPCNT},
	{"avx2", onesAVX2, cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT},
	{"popcnt", onesPOPCNT, cpu.X86.HasPOPCNT},
	{"generic", onesGeneric, true},
}

// onesImpl and onesName are the kernel chosen once, at initialisation, so
// Ones pays no per-call (let alone per-word) feature check.
var onesImpl, onesName = choose()

func choose() (func([]byte) uint64, string) {
	for _, k := range kernels {
		if k.ok {
			return k.fn, k.name
		}
	}
	panic("unreachable")
}
