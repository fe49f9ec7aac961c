package bits_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/baum-store/baum/app/bits"
)

// naiveOnes is the reference every kernel is proven against: one byte at a
// time, one bit at a time, nothing clever.
func naiveOnes(p []byte) uint64 {
	var n uint64
	for _, b := range p {
		for i := 0; i < 8; i++ {
			n += uint64(b>>i) & 1
		}
	}
	return n
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// checkAll compares every kernel, Ones, Zeros and Count with want (the
// number of one bits in p).
func checkAll(t *testing.T, what string, p []byte, want uint64) {
	t.Helper()
	for _, k := range bits.Kernels() {
		if got := k.Fn(p); got != want {
			t.Fatalf("%s: kernel %s(len %d) = %d, want %d", what, k.Name, len(p), got, want)
		}
	}
	zeros := 8*uint64(len(p)) - want
	if got := bits.Ones(p); got != want {
		t.Fatalf("%s: Ones(len %d) = %d, want %d", what, len(p), got, want)
	}
	if got := bits.Zeros(p); got != zeros {
		t.Fatalf("%s: Zeros(len %d) = %d, want %d", what, len(p), got, zeros)
	}
	if got := bits.Count(bits.One, p); got != want {
		t.Fatalf("%s: Count(One, len %d) = %d, want %d", what, len(p), got, want)
	}
	if got := bits.Count(bits.Zero, p); got != zeros {
		t.Fatalf("%s: Count(Zero, len %d) = %d, want %d", what, len(p), got, zeros)
	}
}

func TestSelectedKernel(t *testing.T) {
	names := []string{}
	for _, k := range bits.Kernels() {
		names = append(names, k.Name)
	}
	t.Logf("selected kernel: %s; runnable here: %s; not runnable here: %v",
		bits.SelectedKernel(), strings.Join(names, ", "), bits.UnavailableKernels())
	if names[0] != bits.SelectedKernel() {
		t.Errorf("selected %q, but the best runnable kernel is %q", bits.SelectedKernel(), names[0])
	}
}

func TestNaiveReference(t *testing.T) {
	// Sanity-check the reference itself on values counted by hand.
	for _, c := range []struct {
		p    []byte
		want uint64
	}{
		{nil, 0},
		{[]byte{0x00}, 0},
		{[]byte{0x07}, 3},
		{[]byte{0x80}, 1},
		{[]byte{0xff}, 8},
		{[]byte{0x0f, 0xf0, 0x55}, 12},
	} {
		if got := naiveOnes(c.p); got != c.want {
			t.Errorf("naiveOnes(%x) = %d, want %d", c.p, got, c.want)
		}
	}
}

func TestEmpty(t *testing.T) {
	checkAll(t, "nil", nil, 0)
	checkAll(t, "empty", []byte{}, 0)
	checkAll(t, "empty sub-slice", make([]byte, 100)[37:37], 0)
}

func TestSingleByte07(t *testing.T) {
	p := []byte{0x07}
	if got := bits.Ones(p); got != 3 {
		t.Errorf("Ones(0x07) = %d, want 3", got)
	}
	if got := bits.Zeros(p); got != 5 {
		t.Errorf("Zeros(0x07) = %d, want 5", got)
	}
	if got := bits.Count(bits.One, p); got != 3 {
		t.Errorf("Count(One, 0x07) = %d, want 3", got)
	}
	if got := bits.Count(bits.Zero, p); got != 5 {
		t.Errorf("Count(Zero, 0x07) = %d, want 5", got)
	}
	checkAll(t, "0x07", p, 3)
}

func TestEveryByteValue(t *testing.T) {
	all := make([]byte, 256)
	for v := 0; v < 256; v++ {
		all[v] = byte(v)
		checkAll(t, "single byte", []byte{byte(v)}, naiveOnes([]byte{byte(v)}))
		// The value in every lane of every vector width and in the tails.
		rep := bytes.Repeat([]byte{byte(v)}, 1000)
		checkAll(t, "repeated byte", rep, naiveOnes(rep))
	}
	checkAll(t, "all byte values", all, 1024) // each bit position is set in half of 0..255
	if naiveOnes(all) != 1024 {
		t.Fatalf("naive reference disagrees on 0..255")
	}
}

func TestPatterns(t *testing.T) {
	for _, c := range []struct {
		name    string
		b       byte
		perByte uint64
	}{
		{"all-zero", 0x00, 0},
		{"all-0xFF", 0xff, 8},
		{"0x0F", 0x0f, 4},
		{"0xAA", 0xaa, 4},
		{"0x80", 0x80, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, n := range lengths() {
				p := bytes.Repeat([]byte{c.b}, n)
				checkAll(t, c.name, p, c.perByte*uint64(n))
			}
		})
	}
}

// lengths is 0..300 (every tail of every vector loop, several times over)
// plus larger sizes around powers of two.
func lengths() []int {
	var ns []int
	for n := 0; n <= 300; n++ {
		ns = append(ns, n)
	}
	for _, base := range []int{511, 1024, 4096, 32 << 10, 256 << 10, 1 << 20} {
		ns = append(ns, base-1, base, base+1, base+63)
	}
	return ns
}

func TestRandomLengths(t *testing.T) {
	for i, n := range lengths() {
		p := randBytes(uint64(i), n)
		checkAll(t, "random", p, naiveOnes(p))
	}
}

// TestOffsets counts sub-slices starting at every offset 0..63 of a buffer,
// so every kernel sees every alignment of its vector loads and every tail.
func TestOffsets(t *testing.T) {
	buf := randBytes(42, 64+1024+64)
	var ns []int
	for n := 0; n <= 300; n++ {
		ns = append(ns, n)
	}
	ns = append(ns, 511, 512, 513, 767, 1000, 1024)
	for off := 0; off < 64; off++ {
		for _, n := range ns {
			p := buf[off : off+n]
			checkAll(t, "offset", p, naiveOnes(p))
		}
	}
}

// TestHuge counts a buffer far larger than any cache; it is made of one
// random block repeated, so the expected value is cheap to compute with the
// naive reference.
func TestHuge(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 64 MiB")
	}
	block := randBytes(7, 4099) // odd length: the block boundaries drift across vector lanes
	const n = 64<<20 + 13
	p := make([]byte, 0, n+1)
	for len(p)+len(block) <= n {
		p = append(p, block...)
	}
	rest := n - len(p)
	p = append(p, block[:rest]...)
	want := naiveOnes(block)*uint64(n/len(block)) + naiveOnes(block[:rest])
	checkAll(t, "huge", p, want)
	checkAll(t, "huge, unaligned", p[1:], want-naiveOnes(p[:1]))
}

func TestKind(t *testing.T) {
	if bits.Zero.String() != "zero" || bits.One.String() != "one" {
		t.Errorf("String: got %q, %q", bits.Zero, bits.One)
	}
	if got := bits.Kind(7).String(); got != "Kind(7)" {
		t.Errorf("Kind(7).String() = %q", got)
	}
	for _, c := range []struct {
		in   string
		want bits.Kind
	}{
		{"zero", bits.Zero}, {"one", bits.One}, {"ZERO", bits.Zero}, {"One", bits.One},
	} {
		got, err := bits.ParseKind(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, k := range []bits.Kind{bits.Zero, bits.One} {
		if got, err := bits.ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%v.String()) = %v, %v", k, got, err)
		}
	}
	for _, bad := range []string{"", "0", "1", "ones", "zeros", " one", "two", "Kind(7)"} {
		if _, err := bits.ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) succeeded", bad)
		}
	}
}

func TestInvalidKindPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("Count(Kind(2))", func() { bits.Count(bits.Kind(2), []byte{1}) })
	mustPanic("NewCounter(Kind(2))", func() { bits.NewCounter(bits.Kind(2)) })
}

func TestCounterChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := r.IntN(5000)
		if trial%20 == 0 {
			n = r.IntN(1 << 20)
		}
		p := randBytes(uint64(trial), n)
		for _, k := range []bits.Kind{bits.Zero, bits.One} {
			c := bits.NewCounter(k)
			if c.Kind() != k {
				t.Fatalf("Kind() = %v, want %v", c.Kind(), k)
			}
			// Feed p in random chunks, including empty ones.
			for rest := p; len(rest) > 0 || r.IntN(4) == 0; {
				m := 0
				if len(rest) > 0 {
					m = r.IntN(min(len(rest), 1+r.IntN(700))) + 1
					if r.IntN(8) == 0 {
						m = 0
					}
				}
				w, err := c.Write(rest[:m])
				if w != m || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v", m, w, err)
				}
				rest = rest[m:]
			}
			if got, want := c.Count(), bits.Count(k, p); got != want {
				t.Fatalf("trial %d: chunked %v count over %d bytes = %d, one-shot %d", trial, k, n, got, want)
			}
			if c.Bytes() != uint64(n) {
				t.Fatalf("Bytes() = %d, want %d", c.Bytes(), n)
			}
			c.Reset()
			if c.Count() != 0 || c.Bytes() != 0 || c.Kind() != k {
				t.Fatalf("after Reset: count %d, bytes %d, kind %v", c.Count(), c.Bytes(), c.Kind())
			}
		}
	}
}

func TestCounterZeroValue(t *testing.T) {
	var c bits.Counter
	if c.Kind() != bits.Zero || c.Count() != 0 || c.Bytes() != 0 {
		t.Fatalf("zero Counter: kind %v, count %d, bytes %d", c.Kind(), c.Count(), c.Bytes())
	}
	c.Write([]byte{0x07, 0xff})
	if c.Count() != 5 || c.Bytes() != 2 {
		t.Fatalf("zero Counter after write: count %d, bytes %d", c.Count(), c.Bytes())
	}
}

// TestCounterMultiWriter is the intended use: one pass over an upload feeds
// the hash and the counter.
func TestCounterMultiWriter(t *testing.T) {
	p := randBytes(99, 3<<20+5)
	h := sha256.New()
	c := bits.NewCounter(bits.One)
	n, err := io.Copy(io.MultiWriter(h, c), bytes.NewReader(p))
	if err != nil || n != int64(len(p)) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	if c.Count() != naiveOnes(p) || c.Bytes() != uint64(len(p)) {
		t.Fatalf("counter %d/%d bytes, want %d/%d", c.Count(), c.Bytes(), naiveOnes(p), len(p))
	}
	if want := sha256.Sum256(p); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("hash mismatch")
	}
}

// FuzzOnes proves every kernel runnable on this machine (and Ones, Zeros,
// Count, Counter) equal to the naive reference, on the input and on the
// sub-slice starting at off; split cuts the Counter's input in two writes.
// The seed corpus below runs as part of a normal `go test`.
func FuzzOnes(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint16(0))
	f.Add([]byte{0x07}, uint8(0), uint16(1))
	f.Add(bytes.Repeat([]byte{0xff}, 257), uint8(1), uint16(100))
	f.Add(bytes.Repeat([]byte{0x0f}, 64), uint8(3), uint16(63))
	f.Add(randBytes(1, 31), uint8(5), uint16(7))
	f.Add(randBytes(2, 63), uint8(0), uint16(8))
	f.Add(randBytes(3, 64), uint8(1), uint16(32))
	f.Add(randBytes(4, 255), uint8(7), uint16(128))
	f.Add(randBytes(5, 1000), uint8(63), uint16(999))
	f.Add(randBytes(6, 4097), uint8(17), uint16(2048))
	f.Fuzz(func(t *testing.T, data []byte, off uint8, split uint16) {
		checkAll(t, "fuzz", data, naiveOnes(data))
		if o := int(off); o < len(data) {
			checkAll(t, "fuzz sub-slice", data[o:], naiveOnes(data[o:]))
		}
		s := int(split)
		if s > len(data) {
			s = len(data)
		}
		for _, k := range []bits.Kind{bits.Zero, bits.One} {
			c := bits.NewCounter(k)
			c.Write(data[:s])
			c.Write(data[s:])
			if got, want := c.Count(), bits.Count(k, data); got != want {
				t.Fatalf("Counter(%v) split at %d = %d, want %d", k, s, got, want)
			}
		}
	})
}
