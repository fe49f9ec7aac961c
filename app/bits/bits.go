// Package bits is BAUM's bit-counting kernel: it counts the one bits (or the
// zero bits) of uploaded file contents, either in one shot (Ones, Zeros,
// Count) or incrementally over a stream (Counter, an io.Writer).
//
// # Why this package exists instead of a loop over math/bits.OnesCount64
//
// On amd64 the Go toolchain only emits a bare POPCNT instruction for
// math/bits.OnesCount64 when the build targets GOAMD64=v2 or higher. A plain
// `go build` (and most Docker images) use the default GOAMD64=v1, where every
// call site is compiled to "load runtime.x86HasPOPCNT, compare, branch, then
// POPCNT or a software fallback". In a hot per-word loop that check, plus the
// single accumulator such loops usually have, costs a large share of the
// throughput (see BenchmarkKernels/naive-OnesCount64 for the figure).
//
// So on amd64 the package carries Go assembly kernels and picks one exactly
// once, at package initialisation, from golang.org/x/sys/cpu feature flags:
//
//   - avx512: VPOPCNTQ on 512-bit vectors (needs AVX512F+AVX512VPOPCNTDQ:
//     Intel Ice Lake and later, AMD Zen 4 and later);
//   - avx2: the nibble-lookup (VPSHUFB) popcount of Muła, Kurz and Lemire,
//     summed with VPSADBW (Haswell / Zen 1 and later);
//   - popcnt: an unrolled scalar POPCNT loop with four accumulators;
//   - generic: the portable pure-Go kernel below.
//
// Whatever the GOAMD64 level, the choice is the same, so the package is fast
// in a default build and in a GOAMD64=v3 build alike. On every other
// architecture, and with the "purego" build tag, the pure-Go kernel is used;
// there math/bits.OnesCount64 is an unconditional intrinsic on the common
// 64-bit targets (arm64, ppc64x, s390x, and amd64 at v2+).
package bits

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
)

// Ones returns the number of one bits in p.
func Ones(p []byte) uint64 {
	return onesImpl(p)
}

// Zeros returns the number of zero bits in p (8*len(p) - Ones(p)).
func Zeros(p []byte) uint64 {
	return 8*uint64(len(p)) - onesImpl(p)
}

// Kind is which bit a service counts.
type Kind uint8

const (
	// Zero counts zero bits.
	Zero Kind = iota
	// One counts one bits.
	One
)

// String returns "zero" or "one" (or "Kind(n)" for an invalid value).
func (k Kind) String() string {
	switch k {
	case Zero:
		return "zero"
	case One:
		return "one"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind parses the String form of a Kind ("zero" or "one"; ASCII case is
// ignored so configuration such as BAUM_KIND=One works).
func ParseKind(s string) (Kind, error) {
	switch {
	case strings.EqualFold(s, "zero"):
		return Zero, nil
	case strings.EqualFold(s, "one"):
		return One, nil
	}
	return 0, fmt.Errorf("bits: unknown kind %q (want \"zero\" or \"one\")", s)
}

// valid reports whether k is Zero or One.
func (k Kind) valid() bool { return k <= One }

// Count returns the number of bits of kind k in p.
// It panics if k is neither Zero nor One (a programming error, not bad input).
func Count(k Kind, p []byte) uint64 {
	switch k {
	case One:
		return Ones(p)
	case Zero:
		return Zeros(p)
	}
	panic("bits: Count with invalid " + k.String())
}

// Counter accumulates a running count of one kind over a stream. It
// implements io.Writer and never fails, so a caller can feed it chunk by
// chunk, e.g. through io.MultiWriter next to a sha256 hash.
//
// Internally it keeps the number of one bits and of bytes; the zero count is
// derived (8*bytes - ones), so the result does not depend on how the stream
// was split into writes. The zero value is a Counter of kind Zero. A Counter
// is not safe for concurrent use.
type Counter struct {
	kind  Kind
	ones  uint64
	bytes uint64
}

// NewCounter returns a Counter for bits of kind k.
// It panics if k is neither Zero nor One.
func NewCounter(k Kind) *Counter {
	if !k.valid() {
		panic("bits: NewCounter with invalid " + k.String())
	}
	return &Counter{kind: k}
}

// Write counts the bits of p. It always returns len(p), nil.
func (c *Counter) Write(p []byte) (int, error) {
	c.ones += onesImpl(p)
	c.bytes += uint64(len(p))
	return len(p), nil
}

// Kind returns the kind of bit c counts.
func (c *Counter) Kind() Kind { return c.kind }

// Count returns the number of bits of c's kind written so far.
func (c *Counter) Count() uint64 {
	if c.kind == One {
		return c.ones
	}
	return 8*c.bytes - c.ones
}

// Bytes returns the number of bytes written so far.
func (c *Counter) Bytes() uint64 { return c.bytes }

// Reset sets the counts back to zero; the kind is kept.
func (c *Counter) Reset() {
	c.ones, c.bytes = 0, 0
}

// onesGeneric is the portable kernel. It is compiled on every architecture
// (so the amd64 tests prove it too) and is the one used where no assembly
// kernel applies.
//
// It loads 8 bytes at a time with binary.NativeEndian (a single load on the
// usual targets; byte order is irrelevant to a popcount), processes 32 bytes
// per iteration into four independent accumulators so consecutive popcounts
// do not serialise on one add chain, and re-slices p[:32] so the compiler
// drops the per-load bounds checks. Accumulators are uint64 so that the count
// cannot overflow on 32-bit targets either.
func onesGeneric(p []byte) uint64 {
	var c0, c1, c2, c3 uint64
	for len(p) >= 32 {
		q := p[:32]
		c0 += uint64(bits.OnesCount64(binary.NativeEndian.Uint64(q[0:8])))
		c1 += uint64(bits.OnesCount64(binary.NativeEndian.Uint64(q[8:16])))
		c2 += uint64(bits.OnesCount64(binary.NativeEndian.Uint64(q[16:24])))
		c3 += uint64(bits.OnesCount64(binary.NativeEndian.Uint64(q[24:32])))
		p = p[32:]
	}
	for len(p) >= 8 {
		c0 += uint64(bits.OnesCount64(binary.NativeEndian.Uint64(p)))
		p = p[8:]
	}
	for _, b := range p {
		c1 += uint64(bits.OnesCount8(b))
	}
	return c0 + c1 + c2 + c3
}
