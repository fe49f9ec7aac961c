package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	httpport "github.com/baum-store/baum/handlers/http"
	"github.com/baum-store/baum/messages"
)

const rangeFileID = "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"

// oneFile is a service that holds one file, rangeFileID, with the bytes
// set last.
type oneFile struct {
	mu   sync.Mutex
	data []byte
}

func (f *oneFile) set(data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = data
}

func (f *oneFile) bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data
}

func (f *oneFile) Files(context.Context, query.FilesQuery) (domain.Totals, []domain.File, error) {
	return domain.Totals{}, nil, nil
}
func (f *oneFile) File(_ context.Context, id string) (domain.File, error) {
	if id != rangeFileID {
		return domain.File{}, domain.ErrNotFound
	}
	return domain.File{ID: id, Name: "f.bin", Size: int64(len(f.bytes())), SHA256: "ab", StoredAt: time.Unix(1700000000, 0)}, nil
}
func (f *oneFile) Upload(context.Context, string) (*domain.Upload, error) {
	return nil, domain.ErrNotFound
}
func (f *oneFile) OpenStored(context.Context, string) (io.ReadSeekCloser, error) {
	return nopCloser{bytes.NewReader(f.bytes())}, nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// contentServer returns the HTTP port of a service that holds f.
func contentServer(t testing.TB, f *oneFile) *httpport.Server {
	t.Helper()
	s, err := httpport.NewServer(httpport.Config{MaxUploadBytes: 1}, httpport.Deps{
		Self: messages.Zeros,
		App: app.Application{Queries: app.Queries{
			ListFiles:   query.NewListFilesHandler(f),
			File:        query.NewFileHandler(f, domain.NewNotifier()),
			FileContent: query.NewFileContentHandler(f, f),
			Upload:      query.NewUploadHandler(f, domain.NewNotifier()),
		}},
		Readiness: alwaysReady{},
		Metrics:   nopMetrics{},
		Log:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzRange sends GET /data/{id}/content with any Range header for files of
// 0 bytes, 1 byte and n bytes, and checks each answer against RFC 9110:
// a 206 carries only non-empty ranges inside the file (Content-Range
// "bytes first-last/size" with first ≤ last < size, §14.4), each one a
// satisfiable range the request asked for, with exactly those bytes; a
// Range that asks for nothing the file has is answered 416 with
// Content-Range "bytes */size" (§15.5.17), but first-pos ranges of an
// empty file may get the whole (empty) file; a malformed one is ignored
// (200) or refused the same way (§14.2); a 200 carries the whole file.
func FuzzRange(f *testing.F) {
	for _, seed := range []string{"bytes=-0", "bytes=-5", "bytes=0-0", "bytes=0-", "bytes=-1", "bytes=5-2", "bytes=-0,0-1",
		"bytes=0-,-0", "bytes= 0-1", "bytes=0-1 , 3-4", "bytes=,0-1,", "bytes=99999999999999999999-", "bytes=0-99999999999999999999",
		"bytes=-99999999999999999999", "bytes=--1", "bytes=-", "bytes=", "bytes=1-1,1-1", "bytes=0 - 1", "bytes=10000-", "bytes=9999-",
		"bytes=-10000", "bytes=0-0,2-2,4-4", "bytes=1-0", "items=0-1", "bytes=+1-2", "bytes=0x1-2", "bytes=0-1,2-3,", ""} {
		f.Add(seed, uint16(9999))
	}
	file := &oneFile{}
	s := contentServer(f, file)
	var serving sync.Mutex
	f.Fuzz(func(t *testing.T, rng string, n uint16) {
		serving.Lock()
		defer serving.Unlock()
		for _, size := range []int{0, 1, 1 + int(n)%5000} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*7 + i>>8)
			}
			file.set(data)
			req := httptest.NewRequest(http.MethodGet, "/data/"+rangeFileID+"/content", nil)
			req.Header.Set("Range", rng)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if err := checkRangeAnswer(rng, data, rec.Result()); err != nil {
				t.Fatalf("Range %q on %d bytes: %v", rng, size, err)
			}
		}
	})
}

// want is what RFC 9110 allows for a Range on a file of size bytes:
// malformed (ignore or refuse), or the satisfiable ranges it asks for
// ([first, last] pairs), none meaning unsatisfiable.
type want struct {
	malformed bool
	ranges    [][2]int64
	suffix    bool // it has a suffix range
}

var rangeSpecPattern = regexp.MustCompile(`^(?:([0-9]+)-([0-9]*)|-([0-9]+))$`)

// wantFor reads a Range header by RFC 9110 §14.1.1-2, written apart from the
// server's code: ranges-specifier = "bytes=" 1#range-spec, list elements
// separated by commas with optional whitespace, empty ones ignored; numbers
// of any length.
func wantFor(rng string, size int64) (want, bool) {
	if !strings.HasPrefix(rng, "bytes=") {
		return want{}, false // not a byte range: ignored
	}
	var w want
	elements := 0
	for _, e := range strings.Split(rng[len("bytes="):], ",") {
		e = strings.Trim(e, " \t")
		if e == "" {
			continue
		}
		elements++
		m := rangeSpecPattern.FindStringSubmatch(e)
		if m == nil {
			return want{malformed: true}, true
		}
		num := func(s string) *big.Int { v, _ := new(big.Int).SetString(s, 10); return v }
		sz := big.NewInt(size)
		if m[3] != "" { // suffix
			w.suffix = true
			l := num(m[3])
			if l.Sign() > 0 && size > 0 {
				first := new(big.Int).Sub(sz, l)
				if first.Sign() < 0 {
					first.SetInt64(0)
				}
				w.ranges = append(w.ranges, [2]int64{first.Int64(), size - 1})
			}
			continue
		}
		first := num(m[1])
		if m[2] != "" && num(m[2]).Cmp(first) < 0 {
			return want{malformed: true}, true
		}
		if first.Cmp(sz) >= 0 {
			continue
		}
		last := size - 1
		if m[2] != "" && num(m[2]).Cmp(big.NewInt(last)) < 0 {
			last = num(m[2]).Int64()
		}
		w.ranges = append(w.ranges, [2]int64{first.Int64(), last})
	}
	if elements == 0 {
		return want{malformed: true}, true
	}
	return w, true
}

var contentRangePattern = regexp.MustCompile(`^bytes ([0-9]+)-([0-9]+)/([0-9]+)$`)

func checkRangeAnswer(rng string, data []byte, res *http.Response) error {
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	size := int64(len(data))
	w, isRange := wantFor(rng, size)
	switch res.StatusCode {
	case http.StatusOK:
		if res.Header.Get("Content-Range") != "" || !bytes.Equal(body, data) {
			return fmt.Errorf("200 with Content-Range %q and %d bytes, want the whole file", res.Header.Get("Content-Range"), len(body))
		}
		// The whole file is always a valid answer to a satisfiable Range
		// (a server may ignore Range). This service answers one that asks
		// for nothing the file has with 416, but for an empty file asked
		// for first-pos ranges only: some clients send those with every
		// request, and it serves them the (empty) file.
		if isRange && !w.malformed && len(w.ranges) == 0 && (size > 0 || w.suffix) {
			return fmt.Errorf("200 for a Range that asks for nothing the file has; want 416")
		}
		return nil
	case http.StatusRequestedRangeNotSatisfiable:
		if cr := res.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", size) {
			return fmt.Errorf("416 with Content-Range %q, want bytes */%d", cr, size)
		}
		if !json.Valid(body) {
			return fmt.Errorf("416 without a JSON error: %q", body)
		}
		if !isRange || !w.malformed && len(w.ranges) > 0 {
			return fmt.Errorf("416 for a satisfiable Range %v", w.ranges)
		}
		return nil
	case http.StatusPartialContent:
		if !isRange || w.malformed || len(w.ranges) == 0 {
			return fmt.Errorf("206 for a Range that is malformed or asks for nothing (Content-Range %q)", res.Header.Get("Content-Range"))
		}
		return checkPartial(w, data, res, body)
	}
	return fmt.Errorf("status %d: %s", res.StatusCode, body)
}

// checkPartial checks a 206: one part (Content-Range on the answer) or
// multipart/byteranges (one on each part); each part a range the request
// asked for, inside the file, non-empty, with its bytes.
func checkPartial(w want, data []byte, res *http.Response, body []byte) error {
	part := func(cr string, got []byte) error {
		m := contentRangePattern.FindStringSubmatch(cr)
		if m == nil {
			return fmt.Errorf("Content-Range %q is not bytes first-last/size", cr)
		}
		first, _ := strconv.ParseInt(m[1], 10, 64)
		last, _ := strconv.ParseInt(m[2], 10, 64)
		size, _ := strconv.ParseInt(m[3], 10, 64)
		if size != int64(len(data)) || first > last || last >= size {
			return fmt.Errorf("Content-Range %q: an empty or inverted range, or not inside %d bytes", cr, len(data))
		}
		asked := false
		for _, r := range w.ranges {
			asked = asked || r == [2]int64{first, last}
		}
		if !asked {
			return fmt.Errorf("Content-Range %q: a range the request did not ask for (%v)", cr, w.ranges)
		}
		if !bytes.Equal(got, data[first:last+1]) {
			return fmt.Errorf("Content-Range %q with %d bytes that are not the file's", cr, len(got))
		}
		return nil
	}
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		return part(res.Header.Get("Content-Range"), body)
	}
	if res.Header.Get("Content-Range") != "" {
		return fmt.Errorf("multipart/byteranges with a Content-Range of its own")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("multipart/byteranges: %v", err)
		}
		got, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		if err := part(p.Header.Get("Content-Range"), got); err != nil {
			return fmt.Errorf("part %d: %w", parts, err)
		}
		parts++
	}
	if parts == 0 {
		return fmt.Errorf("multipart/byteranges without parts")
	}
	return nil
}
