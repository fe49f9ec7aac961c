package messages_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/messages"
)

const (
	id  = "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"
	sum = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
)

func TestEveryMessageSurvivesTheWire(t *testing.T) {
	at := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	for _, m := range []messages.Message{
		messages.StoreChunk{UploadID: id, Index: 0, Offset: 0, Data: []byte("abc"), Name: "a.bin", ContentType: "text/plain", Origin: "zeros"},
		messages.StoreChunk{UploadID: id, Index: 3, Offset: 3, Data: []byte("abc"), Last: true, Size: 6, SHA256: sum, Name: "ä ü.bin"},
		messages.StoreChunk{UploadID: id, Data: []byte{}, Last: true, Size: 0, SHA256: sum},
		messages.AbortUpload{UploadID: id, Reason: "client went away"},
		messages.DeleteFile{FileID: id, Service: messages.Ones},
		messages.BitsCounted{UploadID: id, Service: messages.Zeros, Bit: "zero", Count: 14, Size: 3, SHA256: sum, At: at},
		messages.FileStored{FileID: id, Service: messages.Ones, Name: "a", Size: 3, SHA256: sum, ZeroBits: 14, OneBits: 10, At: at},
		messages.UploadFailed{UploadID: id, Service: messages.Zeros, Reason: messages.ReasonStorageFull, Detail: "disk", At: at},
		messages.FileDeleted{FileID: id, Service: messages.Zeros, Size: 3, At: at},
	} {
		t.Run(m.MessageName(), func(t *testing.T) {
			msg, err := messages.Marshaler{}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.Metadata.Get(messages.HeaderName); got != m.MessageName() {
				t.Errorf("name header %q", got)
			}
			if got, _ := messages.PartitionKey("", msg); got != id {
				t.Errorf("partition key %q, want the upload id", got)
			}
			if topic := messages.TopicFor(m.MessageName()); topic == "" {
				t.Errorf("no topic")
			}
			// Through a copy, as a consumer receives it.
			received := message.NewMessage(msg.UUID, append([]byte(nil), msg.Payload...))
			for k, v := range msg.Metadata {
				received.Metadata.Set(k, v)
			}
			back := reflect.New(reflect.TypeOf(m))
			if err := (messages.Marshaler{}).Unmarshal(received, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), m) {
				t.Errorf("got %+v\nwant %+v", back.Elem().Interface(), m)
			}
		})
	}
}

func TestChunkBytesTravelRaw(t *testing.T) {
	data := []byte{0, 1, 2, 0xFF, 'x'}
	msg, err := messages.Marshaler{}.Marshal(messages.StoreChunk{UploadID: id, Data: data, Last: true, Size: 5, SHA256: sum})
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Payload) != string(data) {
		t.Fatalf("payload %q is not the raw chunk", msg.Payload)
	}
	want := map[string]string{"upload_id": id, "chunk_index": "0", "chunk_offset": "0", "last": "true",
		"file_size": "5", "file_sha256": sum, "name": messages.NameStoreChunk, "partition_key": id}
	for k, v := range want {
		if got := msg.Metadata.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestUnreadableMessagesAreMalformed(t *testing.T) {
	chunk := func(edit func(message.Metadata)) *message.Message {
		msg := message.NewMessage("x", []byte("abc"))
		msg.Metadata = message.Metadata{"name": messages.NameStoreChunk, "upload_id": id, "chunk_index": "0",
			"chunk_offset": "0", "last": "true", "file_size": "3", "file_sha256": sum}
		edit(msg.Metadata)
		return msg
	}
	event := func(name, payload string) *message.Message {
		msg := message.NewMessage("x", []byte(payload))
		msg.Metadata.Set("name", name)
		return msg
	}
	cases := []struct {
		name string
		msg  *message.Message
		into any
		says string
	}{
		{"chunk: bad id", chunk(func(m message.Metadata) { m["upload_id"] = "../../etc" }), &messages.StoreChunk{}, "not a UUID"},
		{"chunk: bad offset", chunk(func(m message.Metadata) { m["chunk_offset"] = "x" }), &messages.StoreChunk{}, "chunk_offset"},
		{"chunk: negative offset", chunk(func(m message.Metadata) { m["chunk_offset"] = "-1" }), &messages.StoreChunk{}, "negative"},
		{"chunk: size mismatch", chunk(func(m message.Metadata) { m["file_size"] = "4" }), &messages.StoreChunk{}, "does not end"},
		{"chunk: bad hash", chunk(func(m message.Metadata) { m["file_sha256"] = "zz" }), &messages.StoreChunk{}, "hex"},
		{"chunk: bad last", chunk(func(m message.Metadata) { m["last"] = "yes" }), &messages.StoreChunk{}, "true or false"},
		{"chunk: NUL in name", chunk(func(m message.Metadata) { m["file_name"] = "a\x00b" }), &messages.StoreChunk{}, "NUL"},
		{"chunk: wrong version", chunk(func(m message.Metadata) { m["name"] = "baum.StoreChunk.v2" }), &messages.StoreChunk{}, "not"},
		{"event: not JSON", event(messages.NameBitsCounted, "{"), &messages.BitsCounted{}, "unexpected end"},
		{"event: empty", event(messages.NameBitsCounted, ""), &messages.BitsCounted{}, "empty"},
		{"event: wrong bit", event(messages.NameBitsCounted, `{"upload_id":"`+id+`","service":"zeros","bit":"one","count":1,"size":1,"sha256":"`+sum+`"}`), &messages.BitsCounted{}, "does not match"},
		{"event: too many bits", event(messages.NameBitsCounted, `{"upload_id":"`+id+`","service":"ones","bit":"one","count":9,"size":1,"sha256":"`+sum+`"}`), &messages.BitsCounted{}, "more than"},
		{"event: unknown service", event(messages.NameDeleteFile, `{"file_id":"`+id+`","service":"twos"}`), &messages.DeleteFile{}, "twos"},
		{"event: counts do not add up", event(messages.NameFileStored, `{"file_id":"`+id+`","service":"ones","size":1,"sha256":"`+sum+`","zero_bits":1,"one_bits":1}`), &messages.FileStored{}, "8 × size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := messages.Marshaler{}.Unmarshal(c.msg, c.into)
			if !errors.Is(err, messages.ErrMalformed) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v; want ErrMalformed saying %q", err, c.says)
			}
		})
	}
}

func TestInvalidMessagesAreNotSent(t *testing.T) {
	if _, err := (messages.Marshaler{}).Marshal(messages.StoreChunk{UploadID: "nope"}); err == nil {
		t.Fatal("marshaled a chunk without a valid id")
	}
	if _, err := (messages.Marshaler{}).Marshal(struct{}{}); err == nil {
		t.Fatal("marshaled a non-message")
	}
}
