package messages

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// CommandSender sends one command. *cqrs.CommandBus implements it; any bus
// whose marshaler is Marshaler and whose topics follow TopicFor works.
type CommandSender interface {
	Send(ctx context.Context, cmd any) error
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	// ChunkSize is the number of file bytes per StoreChunk.
	// Default DefaultChunkSize; at most MaxChunkSize.
	ChunkSize int
	// Origin names the sender in every chunk: a service name or a program name.
	// Default "client".
	Origin string
}

func (c *SenderConfig) setDefaults() {
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.Origin == "" {
		c.Origin = "client"
	}
}

// Validate reports every bad field.
func (c SenderConfig) Validate() error {
	var errs []error
	if c.ChunkSize < 1 || c.ChunkSize > MaxChunkSize {
		errs = append(errs, fmt.Errorf("ChunkSize %d is not between 1 and %d", c.ChunkSize, MaxChunkSize))
	}
	errs = append(errs, validText("Origin", c.Origin, 128))
	return errors.Join(errs...)
}

// Sender streams a file of any length as ordered StoreChunk commands. It holds
// one chunk in memory at a time; the last chunk carries the size and SHA-256.
type Sender struct {
	bus    CommandSender
	config SenderConfig
}

// NewSender returns a Sender that sends through bus.
func NewSender(bus CommandSender, config SenderConfig) (*Sender, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	if bus == nil {
		return nil, errors.New("missing command bus")
	}
	return &Sender{bus: bus, config: config}, nil
}

// File describes a file to send.
type File struct {
	// UploadID identifies the upload (and later the stored file). If empty,
	// Send chooses a new time-ordered UUID (version 7).
	UploadID string
	// Name is the file's name as the user knows it; metadata only.
	Name string
	// ContentType is the file's media type, may be empty.
	ContentType string
}

// Sent describes a file whose chunks all reached the bus.
type Sent struct {
	UploadID string
	Size     int64
	SHA256   string
	Chunks   int
}

// ErrSend wraps a failure of the bus (as opposed to the reader) during Send.
var ErrSend = errors.New("sending chunk failed")

// Send reads r to its end and sends it as StoreChunk commands. It returns once
// the bus accepted the last chunk: from then on the upload is the services'.
//
// If ctx carries no correlation id (WithCorrelationID), the upload id is
// used, so that every chunk and every log line about the upload share one.
//
// If r fails, Send returns r's error unwrapped; if the bus fails, the error
// wraps ErrSend. Either way some chunks may have been sent: call Abort so the
// services drop them at once.
func (s *Sender) Send(ctx context.Context, f File, r io.Reader) (Sent, error) {
	if f.UploadID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Sent{}, err
		}
		f.UploadID = id.String()
	}
	if CorrelationIDFromContext(ctx) == "" {
		ctx = WithCorrelationID(ctx, f.UploadID)
	}
	if err := errors.Join(validID("UploadID", f.UploadID), validText("Name", f.Name, MaxNameBytes),
		validText("ContentType", f.ContentType, MaxContentTypeBytes)); err != nil {
		return Sent{}, err
	}
	hash := sha256.New()
	br := bufio.NewReaderSize(r, 16)
	var offset int64
	for index := 0; ; index++ {
		if err := ctx.Err(); err != nil {
			return Sent{}, err
		}
		// A fresh buffer per chunk: the bus may keep the payload after Send
		// returns (in-memory pub/subs do).
		buf := make([]byte, s.config.ChunkSize)
		n, last, err := fill(br, buf)
		if err != nil {
			return Sent{}, err
		}
		data := buf[:n]
		hash.Write(data)
		chunk := StoreChunk{
			UploadID:    f.UploadID,
			Index:       index,
			Offset:      offset,
			Data:        data,
			Name:        f.Name,
			ContentType: f.ContentType,
			Origin:      s.config.Origin,
		}
		offset += int64(n)
		if last {
			chunk.Last = true
			chunk.Size = offset
			chunk.SHA256 = hex.EncodeToString(hash.Sum(nil))
		}
		if err := s.bus.Send(ctx, chunk); err != nil {
			return Sent{}, fmt.Errorf("%w: chunk %d of upload %s: %w", ErrSend, index, f.UploadID, err)
		}
		if last {
			return Sent{UploadID: f.UploadID, Size: chunk.Size, SHA256: chunk.SHA256, Chunks: index + 1}, nil
		}
	}
}

// Abort asks the services to drop a partly sent upload.
func (s *Sender) Abort(ctx context.Context, uploadID, reason string) error {
	if CorrelationIDFromContext(ctx) == "" {
		ctx = WithCorrelationID(ctx, uploadID)
	}
	return s.bus.Send(ctx, AbortUpload{UploadID: uploadID, Reason: reason})
}

// fill reads into buf until it is full or r ends, and reports whether r
// ended. Only io.EOF ends r: any other error, io.ErrUnexpectedEOF included
// (a multipart body cut off before its boundary), is the reader's failure.
func fill(r *bufio.Reader, buf []byte) (n int, last bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF { //nolint:errorlint // io.EOF is returned unwrapped by contract
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	// Full: a one-byte look-ahead tells whether this was the last chunk
	// without holding a second chunk in memory.
	if _, err := r.Peek(1); err == io.EOF {
		return n, true, nil
	} else if err != nil {
		return n, false, err
	}
	return n, false, nil
}
