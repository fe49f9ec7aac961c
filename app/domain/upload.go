package domain

import (
	"slices"
	"time"

	"github.com/baum-store/baum/messages"
)

// UploadState is where an upload stands, as one service sees it.
type UploadState string

const (
	// Receiving: chunks are arriving and being staged.
	Receiving UploadState = "receiving"
	// Counting: the file is staged; bit counts are awaited or the keepers are storing it.
	Counting UploadState = "counting"
	// Placed: every service the rule names holds the file.
	Placed UploadState = "placed"
	// Failed: the upload will not be stored anywhere.
	Failed UploadState = "failed"
)

// Upload is one service's record of an upload. Both services keep one for
// every upload they see, whoever received it.
//
// Placement is decided from the event stream alone: each service records the
// BitsCounted events in the order the upload's partition delivers them, and
// the event that makes both counts known decides. Both services read the same
// partition in the same order, so they reach the same decision, and a failure
// that arrives after the decision changes nothing.
type Upload struct {
	ID          string
	State       UploadState
	Name        string
	ContentType string
	Origin      string

	// Staging, as this service did it.
	ReceivedBytes int64  // bytes staged so far
	Staged        bool   // the whole file is staged, verified and counted
	StagedCount   uint64 // bits of this service's kind, once Staged
	StagingError  string // why staging gave up, before the failure event came back
	// InLog is where the upload's first chunk is in the message log; the
	// others follow it, in order, in the same partition. The log keeps
	// every chunk until the placement (chunk retention), so a service can
	// stage from there what it does not hold itself: a file of one chunk
	// staged in memory, after a restart; the earlier chunks of an upload
	// whose partition moved from another replica; a decided file staged by
	// another replica.
	InLog *ChunkRecord

	// Placement: the size and SHA-256 (known once staged or counted), both
	// bit counts from the BitsCounted events, and the keepers, decided when
	// both counts are known.
	messages.Tally
	StoredIn []messages.Service // keepers that reported FileStored
	// DecidedAt is when the placement was decided: the time of the
	// BitsCounted that completed both counts. Every keeper stores the file
	// with it as its stored_at, so the file has one stored_at everywhere.
	DecidedAt time.Time
	Kept      bool // this service committed the file
	Deleted   bool // this service held the file and deleted it

	FailureReason string
	FailureDetail string
	FailedBy      messages.Service

	CreatedAt time.Time
	UpdatedAt time.Time
}

// ChunkRecord locates a chunk command in the message log: a partition of
// the chunk topic and an offset in it.
type ChunkRecord struct {
	Partition int32
	Offset    int64
}

// NewUpload returns the record of an upload this service has just heard of.
func NewUpload(id string) *Upload {
	return &Upload{ID: id, State: Receiving, Tally: messages.NewTally()}
}

// Done reports whether nothing more will happen to the upload.
func (u *Upload) Done() bool { return u.State == Placed || u.State == Failed }

// Describe fills in the metadata the first chunk carries, if not yet known.
func (u *Upload) Describe(name, contentType, origin string) {
	if u.Name == "" && u.ContentType == "" && u.Origin == "" {
		u.Name, u.ContentType, u.Origin = name, contentType, origin
	}
}

// FinishStaging records that this service staged and verified the whole file.
func (u *Upload) FinishStaging(size int64, sha256 string, count uint64) {
	u.Staged, u.Size, u.SHA256, u.StagedCount, u.ReceivedBytes = true, size, sha256, count, size
	if u.State == Receiving {
		u.State = Counting
	}
}

// Fail marks the upload failed, unless it was already decided or done.
// It reports whether anything changed.
func (u *Upload) Fail(by messages.Service, reason, detail string) bool {
	if u.Done() || u.Decided() {
		return false
	}
	u.State, u.FailedBy, u.FailureReason, u.FailureDetail = Failed, by, reason, detail
	return true
}

// CountMismatch says that two services disagree about an upload, or that its
// counts do not add up. The upload fails.
type CountMismatch = messages.CountMismatch

// RecordCount records a service's bit count (messages.Tally.Record) unless
// the upload is done. With both counts known it decides the keepers and
// returns true. It returns a CountMismatch if the services disagree on size
// or hash or the counts do not add up to 8 × size.
func (u *Upload) RecordCount(e messages.BitsCounted) (decided bool, err error) {
	if u.Done() {
		return false, nil
	}
	decided, err = u.Tally.Record(e)
	if decided {
		u.DecidedAt = decisionTime(e.At)
		if u.State == Receiving {
			u.State = Counting
		}
	}
	return decided, err
}

// decisionTime is the time a count carries, as the database keeps it
// (microseconds, UTC), so that an answer made from the record in memory
// says what a read of it says. A count without one (sent by hand) is
// dated on arrival.
func decisionTime(at time.Time) time.Time {
	if at.IsZero() {
		at = time.Now()
	}
	return at.UTC().Truncate(time.Microsecond)
}

// Keeps reports whether service s is a decided keeper.
func (u *Upload) Keeps(s messages.Service) bool { return slices.Contains(u.Keepers, s) }

// RecordStored records that service s holds the file; the upload is placed
// once every keeper does. It reports whether anything changed.
func (u *Upload) RecordStored(s messages.Service) bool {
	if slices.Contains(u.StoredIn, s) {
		return false
	}
	u.StoredIn = append(u.StoredIn, s)
	// Zeros first, as everywhere in the API.
	slices.SortFunc(u.StoredIn, func(a, b messages.Service) int {
		return slices.Index(messages.Services(), a) - slices.Index(messages.Services(), b)
	})
	if u.Decided() && u.State != Failed && !slices.ContainsFunc(u.Keepers, func(k messages.Service) bool {
		return !slices.Contains(u.StoredIn, k)
	}) {
		u.State = Placed
	}
	return true
}

// File returns the metadata of the file this upload brought, stored at
// DecidedAt (a record decided before it was kept: when it last changed).
func (u *Upload) File() File {
	storedAt := u.DecidedAt
	if storedAt.IsZero() {
		storedAt = u.UpdatedAt
	}
	return File{ID: u.ID, Name: u.Name, ContentType: MediaType(u.ContentType), Size: u.Size, SHA256: u.SHA256,
		ZeroBits: deref(u.ZeroBits), OneBits: deref(u.OneBits), StoredAt: storedAt, StoredIn: u.Holders()}
}

// Holders lists the services that hold the upload's file as far as this
// service knows, zeros first: the keepers, less those whose FileDeleted came.
// Once placed, every keeper reported FileStored, so a keeper missing from
// StoredIn deleted its copy. Decided but not placed yet, the keepers not
// heard from are still storing it (a keeper's own FileStored precedes, in
// the upload's partition, any FileDeleted of the others, so a keeper's
// record is placed before it can see a delete).
func (u *Upload) Holders() []messages.Service {
	if u.Decided() && u.State != Placed && u.State != Failed {
		return slices.Clone(u.Keepers)
	}
	return slices.Clone(u.StoredIn)
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// RecordDeleted records that service s no longer holds the file.
func (u *Upload) RecordDeleted(s messages.Service) {
	u.StoredIn = slices.DeleteFunc(u.StoredIn, func(x messages.Service) bool { return x == s })
}
