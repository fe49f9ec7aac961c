package app

import (
	"github.com/baum-store/baum/app/bits"
	"github.com/baum-store/baum/messages"
)

// BitKind is the kind of bit a service counts: zeros counts zero bits, ones
// counts one bits. A service computes only its own kind and learns the other
// from its peer.
func BitKind(s messages.Service) bits.Kind {
	if s == messages.Ones {
		return bits.One
	}
	return bits.Zero
}

// Keeps reports whether service s keeps a file with these counts: a service
// keeps a file whose bits of its kind are at least as many as the other kind.
// So more zeros → zeros only, more ones → ones only, a tie (an empty file too)
// → both.
//
// The rule itself is part of the public contract (messages.Service.Keeps), so
// that programs following the events apply the very same one.
func Keeps(s messages.Service, zeroBits, oneBits uint64) bool {
	return s.Keeps(zeroBits, oneBits)
}

// Keepers lists the services that keep a file with these counts, zeros first.
func Keepers(zeroBits, oneBits uint64) []messages.Service {
	return messages.Keepers(zeroBits, oneBits)
}
