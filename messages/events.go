package messages

import (
	"errors"
	"fmt"
	"time"
)

// BitsCounted says that Service staged the whole upload, verified its size and
// SHA-256 and counted its own kind of bit: zero bits for zeros, one bits for
// ones. Each service learns the other count only from this event.
type BitsCounted struct {
	UploadID string    `json:"upload_id"` // the upload
	Service  Service   `json:"service"`   // who counted: zeros counts zero bits, ones one bits
	Bit      string    `json:"bit"`       // "zero" or "one": which bits Count counts
	Count    uint64    `json:"count"`     // number of such bits in the file
	Size     int64     `json:"size"`      // file size in bytes, as staged and verified
	SHA256   string    `json:"sha256"`    // hex SHA-256 of the file, as staged and verified
	At       time.Time `json:"at"`        // when it was counted (RFC 3339, UTC)
}

func (BitsCounted) MessageName() string    { return NameBitsCounted }
func (e BitsCounted) PartitionKey() string { return e.UploadID }

func (e BitsCounted) Validate() error {
	var errs []error
	errs = append(errs, validID("upload_id", e.UploadID), validService("service", e.Service))
	want := "zero"
	if e.Service == Ones {
		want = "one"
	}
	if e.Service.valid() && e.Bit != want {
		errs = append(errs, fmt.Errorf("bit %q does not match service %s (want %q)", truncate(e.Bit), e.Service, want))
	}
	if e.Size < 0 {
		errs = append(errs, fmt.Errorf("size %d is negative", e.Size))
	} else if e.Count > 8*uint64(e.Size) {
		errs = append(errs, fmt.Errorf("count %d is more than the %d bits of the file", e.Count, 8*e.Size))
	}
	errs = append(errs, validSHA256("sha256", e.SHA256))
	return errors.Join(errs...)
}

// FileStored says that Service now holds the file: moved into its storage,
// with metadata and totals committed together.
type FileStored struct {
	FileID      string    `json:"file_id"`      // equals the upload id
	Service     Service   `json:"service"`      // the keeper that now holds the file
	Name        string    `json:"name"`         // the client's file name
	ContentType string    `json:"content_type"` // the client's media type, may be empty
	Size        int64     `json:"size"`         // file size in bytes
	SHA256      string    `json:"sha256"`       // hex SHA-256 of the stored bytes
	ZeroBits    uint64    `json:"zero_bits"`    // zero bits of the file (counted by zeros)
	OneBits     uint64    `json:"one_bits"`     // one bits of the file (counted by ones); zero_bits + one_bits = 8 × size
	At          time.Time `json:"at"`           // the file's stored_at, the same in every keeper: when the placement was decided (RFC 3339, UTC)
}

func (FileStored) MessageName() string    { return NameFileStored }
func (e FileStored) PartitionKey() string { return e.FileID }

func (e FileStored) Validate() error {
	var errs []error
	errs = append(errs, validID("file_id", e.FileID), validService("service", e.Service), validSHA256("sha256", e.SHA256))
	if e.Size < 0 || e.ZeroBits+e.OneBits != 8*uint64(e.Size) {
		errs = append(errs, fmt.Errorf("zero_bits %d + one_bits %d is not 8 × size %d", e.ZeroBits, e.OneBits, e.Size))
	}
	errs = append(errs, validText("name", e.Name, MaxNameBytes), validText("content_type", e.ContentType, MaxContentTypeBytes))
	return errors.Join(errs...)
}

// Failure reasons carried by UploadFailed.
const (
	ReasonAborted          = "aborted"           // the sender gave up (AbortUpload)
	ReasonStalled          = "stalled"           // no chunk arrived for too long
	ReasonSizeMismatch     = "size_mismatch"     // staged bytes differ from the declared size
	ReasonChecksumMismatch = "checksum_mismatch" // staged bytes differ from the declared SHA-256
	ReasonChunkGap         = "chunk_gap"         // a chunk arrived past the end of what was staged
	ReasonCountMismatch    = "count_mismatch"    // zero bits + one bits ≠ 8 × size, or the services disagree on size/hash
	ReasonStorageFull      = "storage_full"      // no space left while staging or storing
	ReasonStorageError     = "storage_error"     // another disk error while staging or storing
)

// FailureReasons lists every Reason constant.
func FailureReasons() []string {
	return []string{ReasonAborted, ReasonStalled, ReasonSizeMismatch, ReasonChecksumMismatch, ReasonChunkGap,
		ReasonCountMismatch, ReasonStorageFull, ReasonStorageError}
}

// UploadFailed says that an upload will not be stored anywhere, and why.
// Every service drops what it staged for it. A failure published after the
// upload was placed changes nothing.
type UploadFailed struct {
	UploadID string    `json:"upload_id"` // the upload
	Service  Service   `json:"service"`   // who gave up
	Reason   string    `json:"reason"`    // one of the reasons below; new ones may be added
	Detail   string    `json:"detail"`    // human-readable
	At       time.Time `json:"at"`        // when it failed (RFC 3339, UTC)
}

func (UploadFailed) MessageName() string    { return NameUploadFailed }
func (e UploadFailed) PartitionKey() string { return e.UploadID }

func (e UploadFailed) Validate() error {
	var errs []error
	errs = append(errs, validID("upload_id", e.UploadID), validService("service", e.Service))
	if e.Reason == "" {
		errs = append(errs, errors.New("reason is missing"))
	}
	errs = append(errs, validText("reason", e.Reason, 64), validText("detail", e.Detail, 4096))
	return errors.Join(errs...)
}

// FileDeleted says that Service no longer holds the file.
type FileDeleted struct {
	FileID  string    `json:"file_id"` // the file (= upload) id
	Service Service   `json:"service"` // the service that deleted its copy
	Size    int64     `json:"size"`    // bytes freed
	At      time.Time `json:"at"`      // when it was deleted (RFC 3339, UTC)
}

func (FileDeleted) MessageName() string    { return NameFileDeleted }
func (e FileDeleted) PartitionKey() string { return e.FileID }

func (e FileDeleted) Validate() error {
	return errors.Join(validID("file_id", e.FileID), validService("service", e.Service))
}
