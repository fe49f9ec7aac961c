package messages_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/messages"
)

// decoders lists every message type a consumer decodes, by the name it
// travels under.
var decoders = []func() messages.Message{
	func() messages.Message { return &messages.StoreChunk{} },
	func() messages.Message { return &messages.AbortUpload{} },
	func() messages.Message { return &messages.DeleteFile{} },
	func() messages.Message { return &messages.BitsCounted{} },
	func() messages.Message { return &messages.FileStored{} },
	func() messages.Message { return &messages.UploadFailed{} },
	func() messages.Message { return &messages.FileDeleted{} },
}

// FuzzUnmarshal feeds arbitrary payloads, under every message name, to every
// decoder. A decoder either refuses with ErrMalformed or returns a message
// that is valid, survives the wire unchanged, and was the one named.
func FuzzUnmarshal(f *testing.F) {
	at := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	for _, m := range []messages.Message{
		messages.AbortUpload{UploadID: id, Reason: "client went away"},
		messages.DeleteFile{FileID: id, Service: messages.Ones},
		messages.BitsCounted{UploadID: id, Service: messages.Zeros, Bit: "zero", Count: 14, Size: 3, SHA256: sum, At: at},
		messages.FileStored{FileID: id, Service: messages.Ones, Name: "a", Size: 3, SHA256: sum, ZeroBits: 14, OneBits: 10, At: at},
		messages.UploadFailed{UploadID: id, Service: messages.Zeros, Reason: messages.ReasonStorageFull, Detail: "disk", At: at},
		messages.FileDeleted{FileID: id, Service: messages.Zeros, Size: 3, At: at},
	} {
		msg, err := messages.Marshaler{}.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.MessageName(), []byte(msg.Payload))
	}
	f.Add(messages.NameBitsCounted, []byte(`{"upload_id":"`+id+`","service":"ones","bit":"one","count":18446744073709551615,"size":9223372036854775807,"sha256":"`+sum+`"}`))
	f.Add(messages.NameFileStored, []byte(`{"file_id":"`+id+`","service":"zeros","size":-1,"sha256":"`+sum+`","zero_bits":0,"one_bits":18446744073709551608}`))
	f.Add(messages.NameDeleteFile, []byte(`{"file_id":"`+id+`","service":"zeros","service":"twos"}`))
	f.Add(messages.NameAbortUpload, []byte(`{"upload_id":"`+strings.ToUpper(id)+`"}`))
	f.Add(messages.NameUploadFailed, []byte(`{"upload_id":"`+id+`","service":"ones","reason":"x","detail":"\u0000"}`))
	f.Add(messages.NameFileDeleted, []byte(`null`))
	f.Add("baum.BitsCounted.v9", []byte(`{}`))
	f.Add("", []byte(`[]`))

	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		msg := message.NewMessage("fuzz", payload)
		msg.Metadata.Set(messages.HeaderName, name)
		decoded := 0
		for _, newMessage := range decoders {
			v := newMessage()
			if err := (messages.Marshaler{}).Unmarshal(msg, v); err != nil {
				if !errors.Is(err, messages.ErrMalformed) {
					t.Fatalf("%T: error %v does not wrap ErrMalformed", v, err)
				}
				continue
			}
			decoded++
			if v.MessageName() != name {
				t.Fatalf("a %q message decoded as %s", name, v.MessageName())
			}
			roundTrip(t, v)
		}
		if decoded > 1 {
			t.Fatalf("%d decoders accepted one message", decoded)
		}
	})
}

// FuzzUnmarshalStoreChunk feeds arbitrary headers and bytes to the chunk
// decoder, which reads its fields from record headers.
func FuzzUnmarshalStoreChunk(f *testing.F) {
	f.Add(id, "0", "0", "false", "", "", "a.bin", "text/plain", "zeros", []byte("abc"))
	f.Add(id, "3", "3", "true", "6", sum, "ä ü.bin", "", "client", []byte("abc"))
	f.Add(id, "0", "0", "true", "0", sum, "", "", "", []byte{})
	f.Add(id, "2147483648", "0", "false", "", "", "", "", "", []byte("x"))
	f.Add(id, "-1", "-9223372036854775808", "true", "9223372036854775807", sum, "", "", "", []byte("x"))
	f.Add("../../etc/passwd", "0", "0", "false", "", "", "../x", "", "", []byte("x"))
	f.Add(id, "0", "9223372036854775807", "true", "-9223372036854775808", sum, "", "", "", []byte("x"))
	f.Add(id, "0x1", " 0", "TRUE", "1e3", strings.ToUpper(sum), "a\x00b", "\xff", strings.Repeat("o", 200), []byte("x"))

	f.Fuzz(func(t *testing.T, uploadID, index, offset, last, size, sha, name, contentType, origin string, data []byte) {
		msg := message.NewMessage("fuzz", data)
		msg.Metadata = message.Metadata{
			messages.HeaderName: messages.NameStoreChunk, messages.HeaderUploadID: uploadID,
			messages.HeaderChunkIndex: index, messages.HeaderChunkOffset: offset, messages.HeaderLast: last,
			messages.HeaderFileSize: size, messages.HeaderFileSHA256: sha, messages.HeaderFileName: name,
			messages.HeaderContentType: contentType, messages.HeaderOrigin: origin,
		}
		var c messages.StoreChunk
		if err := (messages.Marshaler{}).Unmarshal(msg, &c); err != nil {
			if !errors.Is(err, messages.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// What a handler may rely on.
		end := c.Offset + int64(len(c.Data))
		switch {
		case c.Index < 0 || c.Offset < 0 || end < c.Offset:
			t.Fatalf("index %d offset %d accepted", c.Index, c.Offset)
		case len(c.Data) > messages.MaxChunkSize:
			t.Fatalf("chunk of %d bytes accepted", len(c.Data))
		case c.Last && c.Size != end:
			t.Fatalf("last chunk ends at %d but declares size %d", end, c.Size)
		case !c.Last && (c.Size != 0 || c.SHA256 != ""):
			t.Fatalf("a chunk that is not the last carries size %d and hash %q", c.Size, c.SHA256)
		case strings.ContainsRune(c.Name, 0) || !utf8.ValidString(c.Name) || len(c.Name) > messages.MaxNameBytes:
			t.Fatalf("name %q accepted", c.Name)
		case len(c.UploadID) != 36:
			t.Fatalf("upload id %q accepted", c.UploadID)
		}
		roundTrip(t, &c)
	})
}

// roundTrip marshals a decoded message again and decodes it: nothing changes.
func roundTrip(t *testing.T, v messages.Message) {
	t.Helper()
	out, err := messages.Marshaler{}.Marshal(v)
	if err != nil {
		t.Fatalf("decoded %+v, which does not marshal: %v", v, err)
	}
	back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	if err := (messages.Marshaler{}).Unmarshal(out, back); err != nil {
		t.Fatalf("%+v does not decode after marshaling: %v", v, err)
	}
	if !reflect.DeepEqual(back, v) {
		t.Fatalf("round trip changed %+v into %+v", v, back)
	}
}
