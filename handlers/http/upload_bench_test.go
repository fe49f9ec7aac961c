package http_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/baum-store/baum/messages"
)

// discardBus takes chunks and forgets them.
type discardBus struct{}

func (discardBus) Send(context.Context, any) error { return nil }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkUploadOverTCP streams a 64 MiB file through the upload handler
// over a loopback connection (so the idle read deadline moves on every
// read) into a bus that drops the chunks: the HTTP port's own cost.
func BenchmarkUploadOverTCP(b *testing.B) {
	const size = 64 << 20
	srv := httptest.NewServer(newServerWith(b, discardBus{}, messages.DefaultChunkSize, size, nil))
	defer srv.Close()
	head := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
	tail := "\r\n--B--\r\n"
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		body := io.MultiReader(strings.NewReader(head), io.LimitReader(zeroReader{}, size), strings.NewReader(tail))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/data/upload?wait=0", body)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}
