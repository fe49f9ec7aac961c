package messages

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Header (Watermill metadata, Kafka record header) keys.
const (
	HeaderName          = "name"           // versioned message name, e.g. baum.StoreChunk.v1
	HeaderPartitionKey  = "partition_key"  // the Kafka record key
	HeaderCorrelationID = "correlation_id" // follows one upload through every message

	// StoreChunk fields.
	HeaderUploadID    = "upload_id"
	HeaderChunkIndex  = "chunk_index"
	HeaderChunkOffset = "chunk_offset"
	HeaderLast        = "last" // "true" on the last chunk
	HeaderFileSize    = "file_size"
	HeaderFileSHA256  = "file_sha256"
	HeaderFileName    = "file_name"
	HeaderContentType = "content_type"
	HeaderOrigin      = "origin"
)

// ErrMalformed wraps every error about a message that can never be read, so a
// consumer can tell it from a passing failure and poison it at once.
var ErrMalformed = errors.New("malformed message")

// Marshaler turns the contract's messages into Watermill messages and back. It
// implements cqrs.CommandEventMarshaler. StoreChunk travels as raw bytes with
// its fields in headers; every other message is JSON. Both directions validate,
// so nothing invalid is sent and nothing invalid reaches a handler.
type Marshaler struct{}

// Marshal encodes v, a Message or a pointer to one.
func (Marshaler) Marshal(v any) (*message.Message, error) {
	m, ok := asMessage(v)
	if !ok {
		return nil, fmt.Errorf("%T is not a BAUM message", v)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", m.MessageName(), err)
	}
	var msg *message.Message
	if c, ok := asChunk(v); ok {
		msg = message.NewMessage(watermill.NewUUID(), c.Data)
		md := msg.Metadata
		md.Set(HeaderUploadID, c.UploadID)
		md.Set(HeaderChunkIndex, strconv.Itoa(c.Index))
		md.Set(HeaderChunkOffset, strconv.FormatInt(c.Offset, 10))
		md.Set(HeaderLast, strconv.FormatBool(c.Last))
		if c.Last {
			md.Set(HeaderFileSize, strconv.FormatInt(c.Size, 10))
			md.Set(HeaderFileSHA256, c.SHA256)
		}
		md.Set(HeaderFileName, c.Name)
		md.Set(HeaderContentType, c.ContentType)
		md.Set(HeaderOrigin, c.Origin)
	} else {
		payload, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", m.MessageName(), err)
		}
		msg = message.NewMessage(watermill.NewUUID(), payload)
	}
	msg.Metadata.Set(HeaderName, m.MessageName())
	msg.Metadata.Set(HeaderPartitionKey, m.PartitionKey())
	return msg, nil
}

// Unmarshal decodes msg into v, a pointer to a Message. Every error wraps ErrMalformed.
func (Marshaler) Unmarshal(msg *message.Message, v any) error {
	m, ok := asMessage(v)
	if !ok {
		return fmt.Errorf("%w: cannot decode into %T", ErrMalformed, v)
	}
	want, got := m.MessageName(), msg.Metadata.Get(HeaderName)
	if got != want {
		return fmt.Errorf("%w: message is %q, not %q", ErrMalformed, truncate(got), want)
	}
	if c, ok := v.(*StoreChunk); ok {
		if err := decodeChunk(msg, c); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMalformed, want, err)
		}
	} else {
		if len(msg.Payload) == 0 {
			return fmt.Errorf("%w: %s: empty payload", ErrMalformed, want)
		}
		if err := json.Unmarshal(msg.Payload, v); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMalformed, want, err)
		}
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, want, err)
	}
	return nil
}

// Name returns the versioned name of v, a Message or a pointer to one.
func (Marshaler) Name(v any) string {
	if m, ok := asMessage(v); ok {
		return m.MessageName()
	}
	return fmt.Sprintf("unknown.%T", v)
}

// NameFromMessage returns the name header of msg.
func (Marshaler) NameFromMessage(msg *message.Message) string {
	return msg.Metadata.Get(HeaderName)
}

// PartitionKey returns the Kafka record key of a marshaled message; give it to
// watermill-kafka's NewWithPartitioningMarshaler.
func PartitionKey(_ string, msg *message.Message) (string, error) {
	return msg.Metadata.Get(HeaderPartitionKey), nil
}

func decodeChunk(msg *message.Message, c *StoreChunk) error {
	md := msg.Metadata
	var errs []error
	num := func(key string) int64 {
		s := md.Get(key)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s %q is not an integer", key, truncate(s)))
		}
		return n
	}
	*c = StoreChunk{
		UploadID:    md.Get(HeaderUploadID),
		Offset:      num(HeaderChunkOffset),
		Data:        msg.Payload,
		Name:        md.Get(HeaderFileName),
		ContentType: md.Get(HeaderContentType),
		Origin:      md.Get(HeaderOrigin),
	}
	index := num(HeaderChunkIndex)
	if index > 1<<31 {
		errs = append(errs, fmt.Errorf("header %s %d is too large", HeaderChunkIndex, index))
	}
	c.Index = int(index)
	switch s := md.Get(HeaderLast); s {
	case "true":
		c.Last = true
		c.Size = num(HeaderFileSize)
		c.SHA256 = md.Get(HeaderFileSHA256)
	case "false", "":
	default:
		errs = append(errs, fmt.Errorf("header %s %q is not true or false", HeaderLast, truncate(s)))
	}
	if c.Data == nil {
		c.Data = []byte{}
	}
	return errors.Join(errs...)
}

// asMessage accepts a message or a non-nil pointer to one (the pointer's method
// set includes the value methods, so Validate sees what was decoded into it).
func asMessage(v any) (Message, bool) {
	m, ok := v.(Message)
	if !ok {
		return nil, false
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, false
	}
	return m, true
}

func asChunk(v any) (StoreChunk, bool) {
	switch c := v.(type) {
	case StoreChunk:
		return c, true
	case *StoreChunk:
		return *c, true
	}
	return StoreChunk{}, false
}
