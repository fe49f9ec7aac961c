//go:build !amd64 || purego

package bits

// kernel is one implementation of Ones together with whether this CPU can
// run it.
type kernel struct {
	name string
	fn   func([]byte) uint64
	ok   bool
}

// kernels has only the portable kernel here: on the non-amd64 64-bit targets
// math/bits.OnesCount64 is already a single intrinsic (e.g. CNT+ADDV on
// arm64), so assembly would buy little.
var kernels = []kernel{
	{"generic", onesGeneric, true},
}

var (
	onesImpl = onesGeneric
	onesName = "generic"
)
