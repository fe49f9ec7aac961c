package domain

import (
	"time"

	"github.com/baum-store/baum/messages"
)

// File is the metadata of a file a service holds. Its id is the id of the
// upload that brought it.
type File struct {
	ID          string
	Name        string // the client's name for it: metadata only, never part of a path
	ContentType string
	Size        int64
	SHA256      string
	ZeroBits    uint64
	OneBits     uint64
	StoredAt    time.Time
}

// Placement lists the services the placement rule puts this file in.
func (f File) Placement() []messages.Service { return messages.Keepers(f.ZeroBits, f.OneBits) }

// Totals sums what a service holds.
type Totals struct {
	TotalSize int64
	Count     int64
}
