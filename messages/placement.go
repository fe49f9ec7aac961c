package messages

import "fmt"

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

// Tally is an upload's placement as it is decided from the upload's events:
// the size and SHA-256 the services agree on, both bit counts and, once both
// are in and add up, the keepers. Both services keep one per upload, and so
// does a Client's UploadWatch; all record the same BitsCounted events in the
// order the upload's partition delivers them, so all decide alike.
type Tally struct {
	Size     int64     // bytes; -1 until known (NewTally)
	SHA256   string    // hex; "" until known
	ZeroBits *uint64   // from zeros' BitsCounted; nil until it came
	OneBits  *uint64   // from ones' BitsCounted; nil until it came
	Keepers  []Service // Keepers(*ZeroBits, *OneBits), once decided
}

// NewTally returns the tally of an upload nothing is known of yet.
func NewTally() Tally { return Tally{Size: -1} }

// Decided reports whether the keepers are known.
func (t Tally) Decided() bool { return len(t.Keepers) > 0 }

// Record records a service's bit count. The count that makes both known
// decides the keepers: Record returns true. A count after the decision
// changes nothing. It returns a CountMismatch, and records nothing, if the
// count's size or hash disagrees with what is known; and a CountMismatch,
// with the count recorded but nothing decided, if both counts do not add up
// to 8 × size. The services fail such an upload (ReasonCountMismatch).
func (t *Tally) Record(e BitsCounted) (decided bool, err error) {
	if t.Decided() {
		return false, nil
	}
	if t.Size >= 0 && (t.Size != e.Size || t.SHA256 != e.SHA256) {
		return false, CountMismatch{fmt.Sprintf("%s counted %d bytes with SHA-256 %s, but %d bytes with SHA-256 %s were known",
			e.Service, e.Size, e.SHA256, t.Size, t.SHA256)}
	}
	t.Size, t.SHA256 = e.Size, e.SHA256
	count := e.Count
	if e.Service == Zeros {
		t.ZeroBits = &count
	} else {
		t.OneBits = &count
	}
	if t.ZeroBits == nil || t.OneBits == nil {
		return false, nil
	}
	if *t.ZeroBits+*t.OneBits != 8*uint64(t.Size) {
		return false, CountMismatch{fmt.Sprintf("zero bits %d + one bits %d ≠ 8 × %d bytes", *t.ZeroBits, *t.OneBits, t.Size)}
	}
	t.Keepers = Keepers(*t.ZeroBits, *t.OneBits)
	return true, nil
}

// CountMismatch says that two services disagree about an upload, or that its
// counts do not add up (see Tally.Record). The upload fails.
type CountMismatch struct{ Detail string }

func (e CountMismatch) Error() string { return e.Detail }
