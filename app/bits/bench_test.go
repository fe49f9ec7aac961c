package bits_test

import (
	"encoding/binary"
	mathbits "math/bits"
	"sync"
	"testing"
	"time"

	"github.com/baum-store/baum/app/bits"
)

// Benchmark sizes: one upload chunk that stays in L2, and a buffer larger
// than the last-level cache, where the bound is memory bandwidth.
var benchSizes = []struct {
	name string
	n    int
}{
	{"256KiB", 256 << 10},
	{"64MiB", 64 << 20},
}

var (
	benchBufs   = map[int][]byte{}
	benchBufsMu sync.Mutex
	sink        uint64
)

// benchBuf returns a shared random buffer of n bytes, already touched so no
// page fault lands inside a timed region.
func benchBuf(n int) []byte {
	benchBufsMu.Lock()
	defer benchBufsMu.Unlock()
	if p, ok := benchBufs[n]; ok {
		return p
	}
	p := randBytes(uint64(n), n)
	benchBufs[n] = p
	return p
}

// readBaseline only reads p: it XORs the 64-bit words into eight independent
// accumulators, 64 bytes per iteration, with the bounds checks hoisted by the
// p[:64] re-slice. One load and one 1-cycle XOR per word keep it well above
// DRAM speed, so on a buffer bigger than the cache it measures memory read
// bandwidth, not an ALU limit.
func readBaseline(p []byte) uint64 {
	var a0, a1, a2, a3, a4, a5, a6, a7 uint64
	for len(p) >= 64 {
		q := p[:64]
		a0 ^= binary.NativeEndian.Uint64(q[0:8])
		a1 ^= binary.NativeEndian.Uint64(q[8:16])
		a2 ^= binary.NativeEndian.Uint64(q[16:24])
		a3 ^= binary.NativeEndian.Uint64(q[24:32])
		a4 ^= binary.NativeEndian.Uint64(q[32:40])
		a5 ^= binary.NativeEndian.Uint64(q[40:48])
		a6 ^= binary.NativeEndian.Uint64(q[48:56])
		a7 ^= binary.NativeEndian.Uint64(q[56:64])
		p = p[64:]
	}
	for len(p) >= 8 {
		a0 ^= binary.NativeEndian.Uint64(p)
		p = p[8:]
	}
	for _, b := range p {
		a1 ^= uint64(b)
	}
	return a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7
}

// readLines is a stricter bound on memory read speed: it loads one word from
// every 64-byte cache line (eight lines, eight accumulators per iteration).
// The hardware still has to bring every line of p into the core, so on a
// buffer bigger than the cache this is the line-fetch rate, i.e. single-core
// memory read bandwidth, but with ~1/8 of readBaseline's instructions: the
// scalar word loop fills the out-of-order window with loads of lines already
// requested, keeps fewer lines in flight and so measures somewhat less than
// the memory can deliver. readLines assumes len(p) is a multiple of 512.
func readLines(p []byte) uint64 {
	var a0, a1, a2, a3, a4, a5, a6, a7 uint64
	for len(p) >= 512 {
		q := p[:512]
		a0 ^= binary.NativeEndian.Uint64(q[0:8])
		a1 ^= binary.NativeEndian.Uint64(q[64:72])
		a2 ^= binary.NativeEndian.Uint64(q[128:136])
		a3 ^= binary.NativeEndian.Uint64(q[192:200])
		a4 ^= binary.NativeEndian.Uint64(q[256:264])
		a5 ^= binary.NativeEndian.Uint64(q[320:328])
		a6 ^= binary.NativeEndian.Uint64(q[384:392])
		a7 ^= binary.NativeEndian.Uint64(q[448:456])
		p = p[512:]
	}
	return a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7
}

// naiveWordLoop is what one would write without this package: one
// math/bits.OnesCount64 per word into a single accumulator. With the default
// GOAMD64=v1 each call carries the runtime POPCNT feature check.
func naiveWordLoop(p []byte) uint64 {
	var n uint64
	for len(p) >= 8 {
		n += uint64(mathbits.OnesCount64(binary.LittleEndian.Uint64(p)))
		p = p[8:]
	}
	for _, b := range p {
		n += uint64(mathbits.OnesCount8(b))
	}
	return n
}

func benchFn(b *testing.B, n int, fn func([]byte) uint64) {
	p := benchBuf(n)
	b.SetBytes(int64(n))
	b.ResetTimer()
	for b.Loop() {
		sink += fn(p)
	}
}

func BenchmarkReadBaseline(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) { benchFn(b, s.n, readBaseline) })
	}
}

func BenchmarkReadLines(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) { benchFn(b, s.n, readLines) })
	}
}

func BenchmarkOnes(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) { benchFn(b, s.n, bits.Ones) })
	}
}

// BenchmarkKernels measures every kernel runnable here (including the
// pure-Go fallback "generic") and the naive per-word OnesCount64 loop.
func BenchmarkKernels(b *testing.B) {
	ks := append(bits.Kernels(), bits.Kernel{Name: "naive-OnesCount64", Fn: naiveWordLoop})
	for _, k := range ks {
		for _, s := range benchSizes {
			b.Run(k.Name+"/"+s.name, func(b *testing.B) { benchFn(b, s.n, k.Fn) })
		}
	}
}

// BenchmarkCounter feeds 32 KiB writes (io.Copy's buffer size) to a Counter.
func BenchmarkCounter(b *testing.B) {
	p := benchBuf(256 << 10)
	c := bits.NewCounter(bits.Zero)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		for q := p; len(q) > 0; q = q[32<<10:] {
			c.Write(q[:32<<10])
		}
	}
	sink += c.Count()
}

// BenchmarkOnesVsRead runs the read baselines and Ones over the same 64 MiB
// buffer in the same benchmark, rotating their order every iteration so none
// is favoured by what the previous pass left in the caches, and reports the
// speeds and
//
//	ratio       = Ones speed / readBaseline speed (the target: >= 0.90)
//	ratio-lines = Ones speed / readLines speed (the stricter bound)
func BenchmarkOnesVsRead(b *testing.B) {
	p := benchBuf(64 << 20)
	fns := [...]func([]byte) uint64{readBaseline, readLines, bits.Ones}
	var ts [len(fns)]time.Duration
	i := 0
	for b.Loop() {
		for j := range fns {
			k := (i + j) % len(fns)
			t0 := time.Now()
			sink += fns[k](p)
			ts[k] += time.Since(t0)
		}
		i++
	}
	total := float64(len(p)) * float64(i)
	readGBs := total / ts[0].Seconds() / 1e9
	linesGBs := total / ts[1].Seconds() / 1e9
	onesGBs := total / ts[2].Seconds() / 1e9
	b.ReportMetric(readGBs, "read-GB/s")
	b.ReportMetric(linesGBs, "readlines-GB/s")
	b.ReportMetric(onesGBs, "ones-GB/s")
	b.ReportMetric(onesGBs/readGBs, "ratio")
	b.ReportMetric(onesGBs/linesGBs, "ratio-lines")
	b.ReportMetric(0, "ns/op") // an op is three passes; the metrics above are what counts
	b.Logf("kernel %s", bits.SelectedKernel())
}
