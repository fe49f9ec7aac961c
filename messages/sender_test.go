package messages_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/baum-store/baum/messages"
)

type recordingBus struct {
	sent []messages.StoreChunk
	fail error
}

func (b *recordingBus) Send(_ context.Context, cmd any) error {
	if b.fail != nil {
		return b.fail
	}
	if _, err := (messages.Marshaler{}).Marshal(cmd); err != nil {
		return err
	}
	b.sent = append(b.sent, cmd.(messages.StoreChunk))
	return nil
}

func TestSenderChunksInOrderWithTheChecksumLast(t *testing.T) {
	for _, size := range []int{0, 1, 999, 1000, 1001, 2000, 4567} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		bus := &recordingBus{}
		s, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 1000, Origin: "test"})
		if err != nil {
			t.Fatal(err)
		}
		// A reader that returns a byte at a time: chunks must still be full.
		sent, err := s.Send(context.Background(), messages.File{Name: "f"}, iotest.OneByteReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		wantChunks := max(1, (size+999)/1000)
		sum := sha256.Sum256(data)
		if sent.Chunks != wantChunks || len(bus.sent) != wantChunks || sent.Size != int64(size) || sent.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("size %d: sent %+v in %d chunks", size, sent, len(bus.sent))
		}
		var joined []byte
		for i, c := range bus.sent {
			if c.Index != i || c.Offset != int64(len(joined)) || c.UploadID != sent.UploadID || c.Last != (i == wantChunks-1) {
				t.Fatalf("size %d: chunk %d is %+v", size, i, c)
			}
			if !c.Last && len(c.Data) != 1000 {
				t.Fatalf("size %d: chunk %d holds %d bytes", size, i, len(c.Data))
			}
			joined = append(joined, c.Data...)
		}
		last := bus.sent[wantChunks-1]
		if !bytes.Equal(joined, data) || last.Size != int64(size) || last.SHA256 != sent.SHA256 {
			t.Fatalf("size %d: chunks do not rebuild the file", size)
		}
	}
}

type cutReader struct{ n int }

func (r *cutReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestSenderNeverMistakesACutOffReaderForTheEnd(t *testing.T) {
	bus := &recordingBus{}
	s, _ := messages.NewSender(bus, messages.SenderConfig{ChunkSize: 1000})
	_, err := s.Send(context.Background(), messages.File{}, &cutReader{n: 1500})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want the reader's", err)
	}
	for _, c := range bus.sent {
		if c.Last {
			t.Fatal("a cut-off file was sent as complete")
		}
	}
}

func TestSenderReportsBusFailures(t *testing.T) {
	bus := &recordingBus{fail: errors.New("broker down")}
	s, _ := messages.NewSender(bus, messages.SenderConfig{})
	_, err := s.Send(context.Background(), messages.File{}, strings.NewReader("x"))
	if !errors.Is(err, messages.ErrSend) {
		t.Fatalf("error %v, want ErrSend", err)
	}
	if _, err := messages.NewSender(bus, messages.SenderConfig{ChunkSize: messages.MaxChunkSize + 1}); err == nil {
		t.Fatal("accepted a chunk size over the limit")
	}
}
