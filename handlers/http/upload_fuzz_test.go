package http_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	httpport "github.com/baum-store/baum/handlers/http"
	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/messages"
)

// bus is an in-memory command bus: it marshals every command as the Kafka
// bus would (so nothing invalid passes) and keeps it.
type bus struct {
	mu     sync.Mutex
	chunks []messages.StoreChunk
	aborts []messages.AbortUpload
	abort  chan struct{}
}

func newBus() *bus { return &bus{abort: make(chan struct{}, 1)} }

func (b *bus) Send(_ context.Context, cmd any) error {
	if _, err := (messages.Marshaler{}).Marshal(cmd); err != nil {
		return fmt.Errorf("the handler sent an invalid command: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch c := cmd.(type) {
	case messages.StoreChunk:
		b.chunks = append(b.chunks, c)
	case messages.AbortUpload:
		b.aborts = append(b.aborts, c)
		b.abort <- struct{}{}
	default:
		return fmt.Errorf("unexpected command %T", cmd)
	}
	return nil
}

// noUploads is a read model that has heard of nothing yet.
type noUploads struct{}

func (noUploads) Files(context.Context, query.FilesQuery) (domain.Totals, []domain.File, error) {
	return domain.Totals{}, nil, nil
}
func (noUploads) File(context.Context, string) (domain.File, error) {
	return domain.File{}, domain.ErrNotFound
}
func (noUploads) Upload(context.Context, string) (*domain.Upload, error) {
	return nil, domain.ErrNotFound
}

// alwaysReady is a service whose dependencies all work.
type alwaysReady struct{}

func (alwaysReady) Ready(context.Context) (map[string]string, bool) { return map[string]string{}, true }
func (alwaysReady) Accepting(context.Context) error                 { return nil }

type nopMetrics struct{}

func (nopMetrics) ObserveHTTP(string, string, int, time.Duration) {}
func (nopMetrics) UploadAccepted(int64)                           {}
func (nopMetrics) UploadRejected()                                {}
func (nopMetrics) Handler() http.Handler                          { return http.NotFoundHandler() }

const fuzzMaxUpload = 4096

// newServer returns the HTTP port over an in-memory bus, with small chunks
// and a small size limit so that fuzzing reaches both.
func newServer(t testing.TB, b *bus) *httpport.Server {
	t.Helper()
	return newServerWith(t, b, 100, fuzzMaxUpload)
}

func newServerWith(t testing.TB, b messages.CommandSender, chunkSize int, maxUpload int64) *httpport.Server {
	t.Helper()
	sender, err := messages.NewSender(b, messages.SenderConfig{ChunkSize: chunkSize, Origin: "zeros"})
	if err != nil {
		t.Fatal(err)
	}
	read := noUploads{}
	uploads := command.NewSendUploadHandler(sender, 0, nil)
	t.Cleanup(uploads.Close)
	s, err := httpport.NewServer(httpport.Config{MaxUploadBytes: maxUpload}, httpport.Deps{
		Self: messages.Zeros,
		App: app.Application{
			Commands: app.Commands{SendUpload: uploads},
			Queries: app.Queries{
				ListFiles: query.NewListFilesHandler(read),
				File:      query.NewFileHandler(read, domain.NewNotifier()),
				Upload:    query.NewUploadHandler(read, domain.NewNotifier()),
			},
		},
		Readiness: alwaysReady{},
		Metrics:   nopMetrics{},
		Log:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// form builds a multipart body from raw part headers and bodies.
func form(boundary string, parts ...[2]string) []byte {
	var buf bytes.Buffer
	for _, p := range parts {
		fmt.Fprintf(&buf, "--%s\r\n%s\r\n\r\n%s\r\n", boundary, p[0], p[1])
	}
	fmt.Fprintf(&buf, "--%s--\r\n", boundary)
	return buf.Bytes()
}

func filePart(name, data string) [2]string {
	return [2]string{`Content-Disposition: form-data; name="file"; filename="` + name + `"` + "\r\nContent-Type: application/octet-stream", data}
}

// FuzzUpload throws arbitrary Content-Types and bodies at POST /data/upload.
// Whatever comes in, the handler answers a JSON error or accepts exactly the
// file the body carries, under a safe name, as valid chunk commands; a file
// it does not accept in full is aborted.
func FuzzUpload(f *testing.F) {
	ct := "multipart/form-data; boundary=B"
	f.Add("", ct, form("B", filePart("a.bin", "hello")))
	f.Add("", ct, form("B", filePart("../../etc/passwd", strings.Repeat("x", 250))))
	f.Add("", ct, form("B", filePart(`C:\Users\me\evil.bin`, "x")))
	f.Add("", ct, form("B", filePart("a\x00b\xff\xfe.bin", "x")))
	f.Add("", ct, form("B", filePart(strings.Repeat("n", 1100), "x")))
	f.Add("", ct, form("B", [2]string{`Content-Disposition: form-data; name="note"`, "hi"}, filePart("a", "data")))
	f.Add("", ct, form("B", [2]string{`Content-Disposition: form-data; name="file"; filename*=UTF-8''%2e%2e%2fx%00`, "x"}))
	f.Add("", ct, form("B", filePart("big.bin", strings.Repeat("z", fuzzMaxUpload+1))))
	f.Add("", ct, form("B", filePart("fit.bin", strings.Repeat("z", fuzzMaxUpload))))
	f.Add("", ct, []byte("--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ncut off"))
	f.Add("", ct, []byte("garbage"))
	f.Add("", "multipart/form-data", []byte(""))
	f.Add("", "text/plain", []byte("x"))
	f.Add("", `multipart/form-data; boundary="a b"`, form("a b", filePart("s p a c e", "")))
	var many [][2]string
	for range 40 {
		many = append(many, [2]string{`Content-Disposition: form-data; name="x"`, "1"})
	}
	f.Add("", ct, form("B", append(many, filePart("late", "x"))...))

	f.Add("client-42", ct, form("B", filePart("a.bin", "x")))
	f.Add("bad id\r\nX-Injected: 1", ct, form("B", filePart("a.bin", "x")))
	f.Add(strings.Repeat("c", 200), ct, form("B", filePart("a.bin", "x")))

	f.Fuzz(func(t *testing.T, correlationID, contentType string, body []byte) {
		b := newBus()
		s := newServer(t, b)
		req := httptest.NewRequest(http.MethodPost, "/data/upload?wait=0", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Correlation-ID", correlationID)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		res := rec.Result()
		out, _ := io.ReadAll(res.Body)

		if res.Header.Get("Content-Type") != "application/json" || !json.Valid(out) {
			t.Fatalf("status %d answer is not JSON: %q", res.StatusCode, out)
		}
		// The correlation id is the client's only if it is a safe token.
		id := res.Header.Get("X-Correlation-ID")
		if id == "" || len(id) > 128 || strings.IndexFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			t.Fatalf("correlation id %q", id)
		}
		if id != correlationID && len(correlationID) <= 128 && correlationID != "" &&
			strings.IndexFunc(correlationID, func(r rune) bool { return r < 0x21 || r > 0x7e }) < 0 {
			t.Fatalf("a valid correlation id %q came back as %q", correlationID, id)
		}
		b.mu.Lock()
		chunks := append([]messages.StoreChunk(nil), b.chunks...)
		b.mu.Unlock()
		switch res.StatusCode {
		case http.StatusAccepted:
			checkAccepted(t, contentType, body, out, chunks)
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			var e api.Error
			if err := json.Unmarshal(out, &e); err != nil || e.Error == "" || e.Status != res.StatusCode {
				t.Fatalf("status %d with error body %q", res.StatusCode, out)
			}
			if len(chunks) > 0 {
				if chunks[len(chunks)-1].Last {
					t.Fatalf("status %d, but the whole file was sent", res.StatusCode)
				}
				// Part of a file went out: the services must be told to drop it.
				select {
				case <-b.abort:
				case <-time.After(10 * time.Second):
					t.Fatalf("status %d after %d chunks, and no abort", res.StatusCode, len(chunks))
				}
				if b.aborts[0].UploadID != chunks[0].UploadID {
					t.Fatalf("aborted %s, sent %s", b.aborts[0].UploadID, chunks[0].UploadID)
				}
			}
		default:
			t.Fatalf("unexpected status %d: %s", res.StatusCode, out)
		}
	})
}

// checkAccepted verifies a 202: the chunks carry exactly the "file" part
// of the body (read independently here), in order, under a safe name.
func checkAccepted(t *testing.T, contentType string, body, out []byte, chunks []messages.StoreChunk) {
	t.Helper()
	var v api.Upload // the 202 answer
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if len(chunks) == 0 || !chunks[len(chunks)-1].Last {
		t.Fatalf("202 but %d chunks and no last one", len(chunks))
	}
	var data []byte
	for i, c := range chunks {
		if c.UploadID != v.ID || c.Index != i || c.Offset != int64(len(data)) || c.Last != (i == len(chunks)-1) {
			t.Fatalf("chunk %d is %+v (upload %s)", i, c, v.ID)
		}
		data = append(data, c.Data...)
	}
	last := chunks[len(chunks)-1]
	sum := sha256.Sum256(data)
	if last.Size != int64(len(data)) || last.SHA256 != hex.EncodeToString(sum[:]) || len(data) > fuzzMaxUpload {
		t.Fatalf("last chunk says %d bytes %s; %d bytes were sent", last.Size, last.SHA256, len(data))
	}
	name := chunks[0].Name
	if !utf8.ValidString(name) || len(name) > messages.MaxNameBytes || strings.ContainsAny(name, `/\`) ||
		name == "." || name == ".." || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		t.Fatalf("unsafe name %q", name)
	}

	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("accepted with Content-Type %q: %v", contentType, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("accepted, but no file part: %v", err)
		}
		if part.FormName() != "file" {
			continue
		}
		want, err := io.ReadAll(part)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("accepted a file part that does not read: %v", err)
		}
		if !bytes.Equal(want, data) {
			t.Fatalf("sent %q, the file part holds %q", data, want)
		}
		return
	}
}
