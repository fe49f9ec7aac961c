package messages

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Message names. The version suffix changes whenever a message changes in a way
// an existing consumer could misread; consumers poison names they do not know.
const (
	NameStoreChunk   = "baum.StoreChunk.v1"
	NameAbortUpload  = "baum.AbortUpload.v1"
	NameDeleteFile   = "baum.DeleteFile.v1"
	NameBitsCounted  = "baum.BitsCounted.v1"
	NameFileStored   = "baum.FileStored.v1"
	NameUploadFailed = "baum.UploadFailed.v1"
	NameFileDeleted  = "baum.FileDeleted.v1"
)

// Chunk and metadata limits. Kafka's default message limit is 1 MB (record
// value and headers together), so a chunk stays well below it.
const (
	// DefaultChunkSize is the number of file bytes per StoreChunk a Sender
	// sends: the largest chunk, because a Kafka producer batches an upload's
	// chunks only up to 1 MB per request anyway (one 768 KiB chunk or three
	// of 256 KiB), and fewer, larger messages cost the broker and the
	// consumers less CPU per byte (docs/benchmarks.md).
	DefaultChunkSize = MaxChunkSize
	// MaxChunkSize is the largest chunk any consumer accepts.
	MaxChunkSize = 768 << 10
	// MaxNameBytes is the longest file name (in bytes of UTF-8) the contract carries.
	MaxNameBytes = 1024
	// MaxContentTypeBytes is the longest content type the contract carries.
	MaxContentTypeBytes = 255
)

// Message is implemented by every command and event of the contract.
type Message interface {
	// MessageName is the versioned name carried in the "name" header.
	MessageName() string
	// PartitionKey is the Kafka record key: the id of the upload or file the
	// message is about, so all of one upload's messages share a partition.
	PartitionKey() string
	// Validate reports what is wrong with the message, if anything.
	Validate() error
}

// StoreChunk asks every service to stage one piece of an upload.
//
// Chunks of one upload are sent in order, keyed by UploadID; Offset is where
// Data starts in the file. The last chunk (Last = true) also carries the
// file's total Size and SHA-256 so that each service can verify what it staged.
// Sending the same chunk twice is harmless.
//
// On the wire Data is the Kafka record value, raw, and every other field is a
// record header named by its header tag.
type StoreChunk struct {
	UploadID    string `header:"upload_id"`    // UUID chosen by the sender, lowercase
	Index       int    `header:"chunk_index"`  // 0, 1, 2, … in sending order
	Offset      int64  `header:"chunk_offset"` // byte offset of Data in the file
	Data        []byte `header:"-"`            // the file's bytes; the Kafka record value
	Last        bool   `header:"last"`         // true on the final chunk
	Size        int64  `header:"file_size"`    // total file size in bytes; only on the last chunk
	SHA256      string `header:"file_sha256"`  // hex SHA-256 of the whole file (64 lowercase digits); only on the last chunk
	Name        string `header:"file_name"`    // client's file name: metadata only, never a path
	ContentType string `header:"content_type"` // media type as sent by the client, may be empty
	Origin      string `header:"origin"`       // who sent it: a service name or a client program's name
}

func (StoreChunk) MessageName() string    { return NameStoreChunk }
func (c StoreChunk) PartitionKey() string { return c.UploadID }

func (c StoreChunk) Validate() error {
	var errs []error
	errs = append(errs, validID("upload_id", c.UploadID))
	if c.Index < 0 {
		errs = append(errs, fmt.Errorf("chunk_index %d is negative", c.Index))
	}
	if c.Offset < 0 {
		errs = append(errs, fmt.Errorf("chunk_offset %d is negative", c.Offset))
	} else if c.Offset > math.MaxInt64-int64(len(c.Data)) {
		errs = append(errs, fmt.Errorf("chunk_offset %d puts the chunk's end past the largest file size", c.Offset))
	}
	if len(c.Data) > MaxChunkSize {
		errs = append(errs, fmt.Errorf("chunk of %d bytes is over the %d byte limit", len(c.Data), MaxChunkSize))
	}
	if c.Last {
		if c.Size != c.Offset+int64(len(c.Data)) {
			errs = append(errs, fmt.Errorf("file_size %d does not end where the last chunk ends (%d)", c.Size, c.Offset+int64(len(c.Data))))
		}
		errs = append(errs, validSHA256("file_sha256", c.SHA256))
	}
	errs = append(errs, validText("file_name", c.Name, MaxNameBytes))
	errs = append(errs, validText("content_type", c.ContentType, MaxContentTypeBytes))
	errs = append(errs, validText("origin", c.Origin, 128))
	return errors.Join(errs...)
}

// AbortUpload tells every service to give up an upload whose chunks will not
// all arrive (the client went away, or its reader failed). Each service drops
// what it staged and publishes UploadFailed. An abort after the upload was
// counted by both services changes nothing.
type AbortUpload struct {
	UploadID string `json:"upload_id"` // the upload to give up
	Reason   string `json:"reason"`    // why, for people (at most 1024 bytes); becomes UploadFailed's detail
}

func (AbortUpload) MessageName() string    { return NameAbortUpload }
func (c AbortUpload) PartitionKey() string { return c.UploadID }

func (c AbortUpload) Validate() error {
	return errors.Join(validID("upload_id", c.UploadID), validText("reason", c.Reason, 1024))
}

// DeleteFile asks Service to remove a file it holds, with its metadata.
// The service answers with FileDeleted; a file it does not hold is ignored.
type DeleteFile struct {
	FileID  string  `json:"file_id"` // the file (= upload) id
	Service Service `json:"service"` // the service that should delete its copy; send one command per service
}

func (DeleteFile) MessageName() string    { return NameDeleteFile }
func (c DeleteFile) PartitionKey() string { return c.FileID }

func (c DeleteFile) Validate() error {
	return errors.Join(validID("file_id", c.FileID), validService("service", c.Service))
}

func validID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%s is missing", field)
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return fmt.Errorf("%s %q is not a UUID", field, truncate(id))
	}
	return nil
}

func validSHA256(field, sum string) error {
	if len(sum) != 64 {
		return fmt.Errorf("%s must be 64 lowercase hex digits", field)
	}
	for _, r := range sum {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return fmt.Errorf("%s must be 64 lowercase hex digits", field)
		}
	}
	return nil
}

func validText(field, s string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("%s is %d bytes long, over the %d byte limit", field, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r == 0 {
			return fmt.Errorf("%s contains a NUL character", field)
		}
	}
	return nil
}

func validService(field string, s Service) error {
	if !s.valid() {
		return fmt.Errorf("%s %q is not %q or %q", field, truncate(string(s)), Zeros, Ones)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
