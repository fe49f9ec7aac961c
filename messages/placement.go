package messages

// Keeps reports whether service s keeps a file with these bit counts: a
// service keeps a file whose bits of its kind are at least as many as those
// of the other kind. So more zero bits → zeros only, more one bits → ones
// only, a tie (an empty file too) → both.
//
// It is part of the contract because a program that follows the events
// needs it to know when an upload is placed: once both BitsCounted events
// are in, every service this rule names publishes FileStored.
func (s Service) Keeps(zeroBits, oneBits uint64) bool {
	if s == Ones {
		return oneBits >= zeroBits
	}
	return zeroBits >= oneBits
}

// Keepers lists the services that keep a file with these counts, zeros first.
func Keepers(zeroBits, oneBits uint64) []Service {
	var keepers []Service
	for _, s := range Services() {
		if s.Keeps(zeroBits, oneBits) {
			keepers = append(keepers, s)
		}
	}
	return keepers
}
