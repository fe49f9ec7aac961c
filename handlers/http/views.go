package http

import (
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// fileView is a held file's metadata as the API shows it.
type fileView struct {
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

func newFileView(f domain.File) fileView {
	return fileView{ID: f.ID, Name: f.Name, ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256,
		ZeroBits: f.ZeroBits, OneBits: f.OneBits, StoredIn: f.Placement(), StoredAt: f.StoredAt}
}

// listView is GET /data: the original system's shape, extended with
// pagination.
type listView struct {
	TotalSize    int64               `json:"total_size"`
	Count        int64               `json:"count"`
	ListMetadata map[string]fileView `json:"list_metadata"`
	// Next is the cursor for ?after= of the next page; null on the last page.
	Next *string `json:"next"`
}

// uploadView is GET /data/uploads/{id}, and the 202 answer of an upload.
type uploadView struct {
	ID            string             `json:"id"`
	State         domain.UploadState `json:"state"`
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
	Failure       *failureView       `json:"failure,omitempty"`
	StatusURL     string             `json:"status_url"`
	CreatedAt     *time.Time         `json:"created_at,omitempty"`
	UpdatedAt     *time.Time         `json:"updated_at,omitempty"`
}

type failureView struct {
	Reason  string           `json:"reason"`
	Detail  string           `json:"detail"`
	Service messages.Service `json:"service"`
}

func newUploadView(u *domain.Upload) uploadView {
	v := uploadView{ID: u.ID, State: u.State, Name: u.Name, ContentType: u.ContentType, Origin: u.Origin,
		ReceivedBytes: u.ReceivedBytes, SHA256: u.SHA256, ZeroBits: u.ZeroBits, OneBits: u.OneBits,
		PlacedIn: nonNil(u.Keepers), StoredIn: nonNil(u.StoredIn), StatusURL: "/data/uploads/" + u.ID}
	if u.Size >= 0 {
		size := u.Size
		v.Size = &size
	}
	if u.State == domain.Failed {
		v.Failure = &failureView{Reason: u.FailureReason, Detail: u.FailureDetail, Service: u.FailedBy}
	}
	if !u.CreatedAt.IsZero() {
		v.CreatedAt, v.UpdatedAt = &u.CreatedAt, &u.UpdatedAt
	}
	return v
}

func nonNil(s []messages.Service) []messages.Service {
	if s == nil {
		return []messages.Service{}
	}
	return s
}
