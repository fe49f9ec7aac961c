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
	// StoredIn lists the services that hold the file, as this service knows
	// it from the events (Upload.Holders), zeros first. It is not part of
	// the file's metadata: the read model joins it from the upload's record.
	StoredIn []messages.Service
}

// Totals sums what a service holds.
type Totals struct {
	TotalSize int64
	Count     int64
}
