// Package api declares the JSON shapes of BAUM's HTTP API, once: the server
// writes them, and the CLI, the benchmarks and the tests read them. The
// OpenAPI document (handlers/http/openapi.json) describes the same shapes,
// and a test checks every answer against it.
package api

import (
	"time"

	"github.com/baum-store/baum/messages"
)

// File is a held file's metadata: GET /data/{id}, an entry of GET /data and
// the 201 answer of an upload.
type File struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	ContentType string             `json:"content_type"`
	Size        int64              `json:"size"`
	SHA256      string             `json:"sha256"`
	ZeroBits    uint64             `json:"zero_bits"`
	OneBits     uint64             `json:"one_bits"`
	StoredIn    []messages.Service `json:"stored_in"`
	StoredAt    time.Time          `json:"stored_at"`
}

// FileList is GET /data: the original system's shape, extended with
// pagination, filters and sorts.
type FileList struct {
	// TotalSize and Count are for everything the service holds, not the page.
	TotalSize    int64           `json:"total_size"`
	Count        int64           `json:"count"`
	ListMetadata map[string]File `json:"list_metadata"`
	// Order lists the ids of ListMetadata in the listing's order (a JSON
	// object has none).
	Order []string `json:"order"`
	// Next is the cursor for ?after= of the next page; null on the last page.
	Next *string `json:"next"`
}

// Upload states, as Upload.State shows them.
const (
	StateReceiving = "receiving"
	StateCounting  = "counting"
	StatePlaced    = "placed"
	StateFailed    = "failed"
)

// Upload is GET /data/uploads/{id}, and the 202 answer of an upload.
type Upload struct {
	ID            string             `json:"id"`
	State         string             `json:"state"`
	Name          string             `json:"name"`
	ContentType   string             `json:"content_type"`
	Origin        string             `json:"origin"`
	ReceivedBytes int64              `json:"received_bytes"`
	Size          *int64             `json:"size"`
	SHA256        string             `json:"sha256,omitempty"`
	ZeroBits      *uint64            `json:"zero_bits"`
	OneBits       *uint64            `json:"one_bits"`
	PlacedIn      []messages.Service `json:"placed_in"` // where the rule puts it, once decided
	StoredIn      []messages.Service `json:"stored_in"` // keepers that hold it so far
	Failure       *Failure           `json:"failure,omitempty"`
	StatusURL     string             `json:"status_url"`
	CreatedAt     *time.Time         `json:"created_at,omitempty"`
	UpdatedAt     *time.Time         `json:"updated_at,omitempty"`
}

// Failure says why an upload failed and who gave it up.
type Failure struct {
	Reason  string           `json:"reason"`
	Detail  string           `json:"detail"`
	Service messages.Service `json:"service"`
}

// DeleteAccepted is the 202 answer of a DELETE whose command is on Kafka but
// not handled yet.
type DeleteAccepted struct {
	ID      string           `json:"id"`
	Service messages.Service `json:"service"`
	State   string           `json:"state"`
	// FileURL answers 404 once the file is gone.
	FileURL string `json:"file_url"`
}

// Error is every error's shape: {"error": "...", "status": 400, ...}.
type Error struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
	// CorrelationID lets a user quote the failing request to an operator.
	CorrelationID string `json:"correlation_id,omitempty"`
	// Details says more where there is more to say (which check failed, the
	// failed upload's state).
	Details any `json:"details,omitempty"`
}
