package domain

import (
	"mime"
	"strings"
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

// OctetStream is the media type of a file whose type is unknown.
const OctetStream = "application/octet-stream"

// MediaType is the media type a file is served with and described by:
// the one its upload declared, in canonical form, or application/octet-stream
// when it declared none or one that does not parse. Nothing is guessed from
// the bytes, so the metadata and the download always say the same.
func MediaType(declared string) string {
	mt, params, err := mime.ParseMediaType(declared)
	if err != nil || !strings.Contains(mt, "/") {
		return OctetStream // Go's parser takes a lone token ("attachment") too
	}
	if out := mime.FormatMediaType(mt, params); out != "" {
		return out
	}
	return OctetStream
}
