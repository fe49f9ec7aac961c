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

// The fuzzed server's API tokens: one that may write, one that may only read.
const (
	fuzzWriteToken = "fuzz-write-token-0123456789"
	fuzzReadToken  = "fuzz-read-token-0123456789"
)

// newServer returns the HTTP port over an in-memory bus, with small chunks
// and a small size limit so that fuzzing reaches both, and bearer tokens.
func newServer(t testing.TB, b *bus) *httpport.Server {
	t.Helper()
	tokens, err := httpport.ParseTokens("writer:write:" + fuzzWriteToken + ",reader:read:" + fuzzReadToken)
	if err != nil {
		t.Fatal(err)
	}
	return newServerWith(t, b, 100, fuzzMaxUpload, httpport.NewAuthenticator(tokens))
}

func newServerWith(t testing.TB, b messages.CommandSender, chunkSize int, maxUpload int64, auth *httpport.Authenticator) *httpport.Server {
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
		Auth:      auth,
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

// FuzzUpload throws arbitrary Content-Types, bodies and Authorization
// headers at POST /data/upload. Whatever comes in, the handler answers a JSON
// error or accepts exactly the file the body carries, under a safe name, as
// valid chunk commands; a file it does not accept in full is aborted. Only
// the write token uploads: the read token gets 403, anything else 401, and
// neither sends a byte or echoes what it was given.
func FuzzUpload(f *testing.F) {
	ct := "multipart/form-data; boundary=B"
	w := "Bearer " + fuzzWriteToken
	f.Add("", ct, form("B", filePart("a.bin", "hello")), w)
	f.Add("", ct, form("B", filePart("../../etc/passwd", strings.Repeat("x", 250))), w)
	f.Add("", ct, form("B", filePart(`C:\Users\me\evil.bin`, "x")), w)
	f.Add("", ct, form("B", filePart("a\x00b\xff\xfe.bin", "x")), w)
	f.Add("", ct, form("B", filePart(strings.Repeat("n", 1100), "x")), w)
	f.Add("", ct, form("B", [2]string{`Content-Disposition: form-data; name="note"`, "hi"}, filePart("a", "data")), w)
	f.Add("", ct, form("B", [2]string{`Content-Disposition: form-data; name="file"; filename*=UTF-8''%2e%2e%2fx%00`, "x"}), w)
	f.Add("", ct, form("B", filePart("big.bin", strings.Repeat("z", fuzzMaxUpload+1))), w)
	f.Add("", ct, form("B", filePart("fit.bin", strings.Repeat("z", fuzzMaxUpload))), w)
	f.Add("", ct, []byte("--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ncut off"), w)
	f.Add("", ct, []byte("garbage"), w)
	f.Add("", "multipart/form-data", []byte(""), w)
	f.Add("", "text/plain", []byte("x"), w)
	f.Add("", `multipart/form-data; boundary="a b"`, form("a b", filePart("s p a c e", "")), w)
	var many [][2]string
	for range 40 {
		many = append(many, [2]string{`Content-Disposition: form-data; name="x"`, "1"})
	}
	f.Add("", ct, form("B", append(many, filePart("late", "x"))...), w)

	f.Add("client-42", ct, form("B", filePart("a.bin", "x")), w)
	f.Add("bad id\r\nX-Injected: 1", ct, form("B", filePart("a.bin", "x")), w)
	f.Add(strings.Repeat("c", 200), ct, form("B", filePart("a.bin", "x")), w)

	// Hostile Authorization headers: none, other schemes, near misses of the
	// write token, the read token, injected lines, huge and binary values.
	ok := form("B", filePart("a.bin", "x"))
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Bearer\t", "bearer " + fuzzWriteToken, "BEARER\t" + fuzzWriteToken,
		" \tBearer   " + fuzzWriteToken + "\t ", "Bearer " + fuzzReadToken, "bearer " + fuzzReadToken + " ",
		fuzzWriteToken, "Basic dXNlcjpwYXNzd29yZA==", "Token " + fuzzWriteToken, "Bearer" + fuzzWriteToken,
		w + "x", w[:len(w)-1], "Bearer " + strings.ToUpper(fuzzWriteToken), w + ", " + w, w + "\r\nX-Injected: 1",
		"Bearer\x00" + fuzzWriteToken, "Bearer \u00a0" + fuzzWriteToken, "Bearer \xff\xfe\xfd", "Bearer " + strings.Repeat("A", 10000),
		"Bearer " + fuzzWriteToken + "=", "Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg", strings.Repeat("Bearer ", 50),
	} {
		f.Add("", ct, ok, h)
	}

	refused := refusals(f)
	f.Fuzz(func(t *testing.T, correlationID, contentType string, body []byte, authorization string) {
		b := newBus()
		s := newServer(t, b)
		req := httptest.NewRequest(http.MethodPost, "/data/upload?wait=0", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Correlation-ID", correlationID)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		res := rec.Result()
		out, _ := io.ReadAll(res.Body)

		if res.Header.Get("Content-Type") != "application/json" || !json.Valid(out) {
			t.Fatalf("status %d answer is not JSON: %q", res.StatusCode, out)
		}
		checkCorrelationID(t, correlationID, res.Header.Get("X-Correlation-ID"))
		b.mu.Lock()
		chunks := append([]messages.StoreChunk(nil), b.chunks...)
		b.mu.Unlock()
		if token := presented(authorization); token != fuzzWriteToken {
			checkRefused(t, refused, token == fuzzReadToken, res, out, chunks)
			return
		}
		switch res.StatusCode {
		case http.StatusAccepted:
			checkAccepted(t, contentType, body, out, chunks)
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			checkAborted(t, b, res.StatusCode, out, chunks)
		default:
			t.Fatalf("unexpected status %d: %s", res.StatusCode, out)
		}
	})
}

// presented is the token an Authorization value carries by RFC 6750
// (`Bearer` in any case, then spaces or tabs, then the token; blanks around
// the value do not count), or "" if it carries none. Written apart from the
// handler's own parser, which it checks.
func presented(h string) string {
	h = strings.TrimFunc(h, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(h) < 8 || !strings.EqualFold(h[:6], "bearer") || h[6] != ' ' && h[6] != '\t' {
		return ""
	}
	return strings.TrimLeft(h[6:], " \t")
}

// refusal is what the server answers a request it turns away, the same
// whatever the request carried.
type refusal struct {
	status                int
	authenticate, message string
}

// refusals collects the server's answers to an upload without a token, with
// another scheme, with a wrong token and with the read token: every refusal
// the fuzzer sees must be one of these, so it never reflects its input.
func refusals(f *testing.F) map[refusal]bool {
	out := map[refusal]bool{}
	for _, h := range []string{"", "Basic eA==", "Bearer wrong-token-0123456789", "Bearer " + fuzzReadToken} {
		s := newServer(f, newBus())
		req := httptest.NewRequest(http.MethodPost, "/data/upload", strings.NewReader("x"))
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var e api.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			f.Fatal(err)
		}
		out[refusal{rec.Code, rec.Header().Get("WWW-Authenticate"), e.Error}] = true
	}
	if len(out) != 4 {
		f.Fatalf("%d distinct refusals for 4 kinds of request: %v", len(out), out)
	}
	return out
}

// checkRefused verifies the answer to an upload without the write token:
// 403 for the read token, 401 for anything else, a known answer, no chunk.
func checkRefused(t *testing.T, known map[refusal]bool, readToken bool, res *http.Response, out []byte, chunks []messages.StoreChunk) {
	t.Helper()
	want := http.StatusUnauthorized
	if readToken {
		want = http.StatusForbidden
	}
	var e api.Error
	if err := json.Unmarshal(out, &e); err != nil || res.StatusCode != want || e.Status != want {
		t.Fatalf("status %d (want %d): %s", res.StatusCode, want, out)
	}
	if r := (refusal{res.StatusCode, res.Header.Get("WWW-Authenticate"), e.Error}); !known[r] {
		t.Fatalf("a refusal that is none of the known ones: %+v", r)
	}
	if len(chunks) > 0 {
		t.Fatalf("refused with %d, but %d chunks were sent", res.StatusCode, len(chunks))
	}
}

// checkCorrelationID verifies the answer's correlation id: the client's if
// it is a safe token, else a fresh one.
func checkCorrelationID(t *testing.T, sent, got string) {
	t.Helper()
	safe := func(id string) bool {
		return id != "" && len(id) <= 128 && strings.IndexFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) < 0
	}
	if !safe(got) {
		t.Fatalf("correlation id %q", got)
	}
	if safe(sent) && got != sent {
		t.Fatalf("a valid correlation id %q came back as %q", sent, got)
	}
}

// checkAborted verifies a refused upload: a JSON error, and if part of the
// file went out, an abort of it.
func checkAborted(t *testing.T, b *bus, status int, out []byte, chunks []messages.StoreChunk) {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(out, &e); err != nil || e.Error == "" || e.Status != status {
		t.Fatalf("status %d with error body %q", status, out)
	}
	if len(chunks) == 0 {
		return
	}
	if chunks[len(chunks)-1].Last {
		t.Fatalf("status %d, but the whole file was sent", status)
	}
	// Part of a file went out: the services must be told to drop it.
	select {
	case <-b.abort:
	case <-time.After(10 * time.Second):
		t.Fatalf("status %d after %d chunks, and no abort", status, len(chunks))
	}
	if b.aborts[0].UploadID != chunks[0].UploadID {
		t.Fatalf("aborted %s, sent %s", b.aborts[0].UploadID, chunks[0].UploadID)
	}
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
