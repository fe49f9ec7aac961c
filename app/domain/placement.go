package domain

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
