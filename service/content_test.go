package service_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

const contentRoute = "/data/{id}/content"

func TestDownloadServesRangesAndConditionalRequests(t *testing.T) {
	sys := testsystem.Start(t, nil)
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i % 7) // mostly zero bits: zeros keeps it
	}
	f := uploadFile(t, sys, messages.Zeros, "seven.bin", data)
	if !slices.Equal(f.StoredIn, []messages.Service{messages.Zeros}) {
		t.Fatalf("stored in %v", f.StoredIn)
	}
	path := "/data/" + f.ID + "/content"
	etag := `"` + sha(data) + `"`
	sum := sha256.Sum256(data)
	reprDigest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":" // RFC 9530
	get := func(t *testing.T, headers map[string]string) testsystem.Response {
		t.Helper()
		res := call(t, sys, messages.Zeros, http.MethodGet, path, headers)
		conforms(t, http.MethodGet, contentRoute, res)
		return res
	}

	whole := get(t, nil)
	lastModified := whole.Header.Get("Last-Modified")
	t.Run("whole file", func(t *testing.T) {
		if whole.Status != http.StatusOK || !bytes.Equal(whole.Body, data) {
			t.Fatalf("status %d, %d bytes", whole.Status, len(whole.Body))
		}
		for header, want := range map[string]string{
			"ETag":                    etag,
			"Repr-Digest":             reprDigest,
			"Accept-Ranges":           "bytes",
			"Content-Length":          "1000",
			"Content-Type":            "application/octet-stream",
			"Content-Disposition":     `attachment; filename="seven.bin"`,
			"Cache-Control":           "no-cache",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "sandbox",
		} {
			if got := whole.Header.Get(header); got != want {
				t.Errorf("%s: %q, want %q", header, got, want)
			}
		}
		if _, err := http.ParseTime(lastModified); err != nil {
			t.Errorf("Last-Modified %q: %v", lastModified, err)
		}
	})

	t.Run("ranges", func(t *testing.T) {
		cases := []struct {
			rng          string
			contentRange string
			want         []byte
		}{
			{"bytes=0-99", "bytes 0-99/1000", data[:100]},
			{"bytes=990-", "bytes 990-999/1000", data[990:]},
			{"bytes=-10", "bytes 990-999/1000", data[990:]},
			{"bytes=500-500", "bytes 500-500/1000", data[500:501]},
			{"bytes=900-5000", "bytes 900-999/1000", data[900:]},
		}
		for _, c := range cases {
			res := get(t, map[string]string{"Range": c.rng})
			if res.Status != http.StatusPartialContent || res.Header.Get("Content-Range") != c.contentRange || !bytes.Equal(res.Body, c.want) {
				t.Errorf("Range %s: %d, Content-Range %q, %d bytes", c.rng, res.Status, res.Header.Get("Content-Range"), len(res.Body))
			}
			// A part of the file is still described by the whole's digest.
			if res.Header.Get("ETag") != etag || res.Header.Get("Repr-Digest") != reprDigest {
				t.Errorf("Range %s: ETag %q, Repr-Digest %q", c.rng, res.Header.Get("ETag"), res.Header.Get("Repr-Digest"))
			}
		}
	})

	t.Run("several ranges", func(t *testing.T) {
		res := get(t, map[string]string{"Range": "bytes=0-9,100-119"})
		mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
		if res.Status != http.StatusPartialContent || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("%d %q %v", res.Status, res.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(bytes.NewReader(res.Body), params["boundary"])
		want := []struct {
			cr   string
			data []byte
		}{{"bytes 0-9/1000", data[:10]}, {"bytes 100-119/1000", data[100:120]}}
		for i, w := range want {
			part, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if got := readAll(t, part); part.Header.Get("Content-Range") != w.cr || !bytes.Equal(got, w.data) {
				t.Errorf("part %d: %q, %d bytes", i, part.Header.Get("Content-Range"), len(got))
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("more than two parts: %v", err)
		}
	})

	t.Run("unsatisfiable range", func(t *testing.T) {
		for _, rng := range []string{"bytes=1000-", "bytes=5000-6000"} {
			res := get(t, map[string]string{"Range": rng})
			var e api.Error
			if res.Status == http.StatusRequestedRangeNotSatisfiable {
				res.JSON(t, &e)
			}
			if res.Status != http.StatusRequestedRangeNotSatisfiable || res.Header.Get("Content-Range") != "bytes */1000" ||
				e.Status != 416 || !strings.Contains(e.Error, "Range") {
				t.Errorf("Range %s: %d, Content-Range %q, %s", rng, res.Status, res.Header.Get("Content-Range"), res.Body)
			}
		}
		// A Range that is not bytes=… is ignored (RFC 9110): the whole file.
		if res := get(t, map[string]string{"Range": "pages=1-2"}); res.Status != http.StatusOK || len(res.Body) != 1000 {
			t.Errorf("Range in another unit: %d", res.Status)
		}
	})

	t.Run("conditional", func(t *testing.T) {
		cases := []struct {
			name    string
			headers map[string]string
			status  int
			size    int
		}{
			{"If-None-Match the ETag", map[string]string{"If-None-Match": etag}, http.StatusNotModified, 0},
			{"If-None-Match a weak ETag", map[string]string{"If-None-Match": "W/" + etag}, http.StatusNotModified, 0},
			{"If-None-Match one of several", map[string]string{"If-None-Match": `"abc", ` + etag}, http.StatusNotModified, 0},
			{"If-None-Match *", map[string]string{"If-None-Match": "*"}, http.StatusNotModified, 0},
			{"If-None-Match another", map[string]string{"If-None-Match": `"abc"`}, http.StatusOK, 1000},
			{"If-Modified-Since Last-Modified", map[string]string{"If-Modified-Since": lastModified}, http.StatusNotModified, 0},
			{"If-Modified-Since long ago", map[string]string{"If-Modified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, http.StatusOK, 1000},
			{"If-None-Match wins over If-Modified-Since", map[string]string{"If-None-Match": `"abc"`, "If-Modified-Since": lastModified}, http.StatusOK, 1000},
			{"If-Match the ETag", map[string]string{"If-Match": etag}, http.StatusOK, 1000},
			{"If-Match another", map[string]string{"If-Match": `"abc"`}, http.StatusPreconditionFailed, -1},
			{"If-Match a weak ETag", map[string]string{"If-Match": "W/" + etag}, http.StatusPreconditionFailed, -1},
			{"If-Unmodified-Since long ago", map[string]string{"If-Unmodified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, http.StatusPreconditionFailed, -1},
			{"If-Range the ETag", map[string]string{"If-Range": etag, "Range": "bytes=0-9"}, http.StatusPartialContent, 10},
			{"If-Range another", map[string]string{"If-Range": `"abc"`, "Range": "bytes=0-9"}, http.StatusOK, 1000},
			{"If-Range Last-Modified", map[string]string{"If-Range": lastModified, "Range": "bytes=0-9"}, http.StatusPartialContent, 10},
		}
		for _, c := range cases {
			res := get(t, c.headers)
			if res.Status != c.status {
				t.Errorf("%s: %d, want %d: %s", c.name, res.Status, c.status, res.Body)
				continue
			}
			switch {
			case c.size >= 0 && len(res.Body) != c.size:
				t.Errorf("%s: %d bytes, want %d", c.name, len(res.Body), c.size)
			case c.status == http.StatusNotModified && res.Header.Get("ETag") != etag:
				t.Errorf("%s: 304 without the ETag", c.name)
			case c.status == http.StatusPreconditionFailed:
				var e api.Error
				res.JSON(t, &e)
				if e.Status != 412 || !strings.Contains(e.Error, "If-Match") {
					t.Errorf("%s: %s", c.name, res.Body)
				}
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		res := call(t, sys, messages.Zeros, http.MethodHead, path, nil)
		conforms(t, http.MethodHead, contentRoute, res)
		if res.Status != http.StatusOK || len(res.Body) != 0 || res.Header.Get("Content-Length") != "1000" || res.Header.Get("ETag") != etag {
			t.Errorf("HEAD: %d, %d bytes, %v", res.Status, len(res.Body), res.Header)
		}
		res = call(t, sys, messages.Zeros, http.MethodHead, path, map[string]string{"If-None-Match": etag})
		if res.Status != http.StatusNotModified {
			t.Errorf("conditional HEAD: %d", res.Status)
		}
	})

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			role   messages.Service
			path   string
			status int
			says   string
		}{
			{messages.Ones, path, http.StatusNotFound, "no such file"}, // ones does not hold it
			{messages.Zeros, "/data/01a21aec-2e12-7f30-a7b5-9c4a2553c6a1/content", http.StatusNotFound, "no such file"},
			{messages.Zeros, "/data/not-an-id/content", http.StatusBadRequest, "not an id"},
			{messages.Zeros, path + "?disposition=download", http.StatusBadRequest, "disposition"},
		}
		for _, c := range cases {
			res := call(t, sys, c.role, http.MethodGet, c.path, nil)
			conforms(t, http.MethodGet, contentRoute, res)
			var e api.Error
			res.JSON(t, &e)
			if res.Status != c.status || !strings.Contains(e.Error, c.says) {
				t.Errorf("GET %s on %s: %d %s", c.path, c.role, res.Status, res.Body)
			}
		}
		if res := call(t, sys, messages.Zeros, http.MethodPost, path, nil); res.Status != http.StatusMethodNotAllowed {
			t.Errorf("POST content: %d", res.Status)
		}
	})

	t.Run("damaged storage", func(t *testing.T) {
		// Bytes that are not the file are never served: a stored file cut
		// short, or gone while its metadata says it is held, is a 500.
		for _, damage := range []func(path string) error{
			func(path string) error { return os.Truncate(path, 10) },
			os.Remove,
		} {
			g := uploadFile(t, sys, messages.Zeros, "damaged.bin", data)
			if err := damage(storedPath(sys, messages.Zeros, g.ID)); err != nil {
				t.Fatal(err)
			}
			res := call(t, sys, messages.Zeros, http.MethodGet, "/data/"+g.ID+"/content", nil)
			conforms(t, http.MethodGet, contentRoute, res)
			if res.Status != http.StatusInternalServerError {
				t.Errorf("damaged file: %d, %d bytes", res.Status, len(res.Body))
			}
		}
	})

	t.Run("empty file", func(t *testing.T) {
		empty := uploadFile(t, sys, messages.Ones, "empty.txt", nil)
		for _, role := range messages.Services() { // a tie: both hold it
			res := call(t, sys, role, http.MethodGet, "/data/"+empty.ID+"/content", nil)
			if res.Status != http.StatusOK || len(res.Body) != 0 || res.Header.Get("Content-Length") != "0" ||
				res.Header.Get("ETag") != `"`+sha(nil)+`"` {
				t.Errorf("%s: %d %v", role, res.Status, res.Header)
			}
			// Some clients send a Range with every request: an empty file
			// answers it whole rather than with 416.
			res = call(t, sys, role, http.MethodGet, "/data/"+empty.ID+"/content", map[string]string{"Range": "bytes=0-0"})
			if res.Status != http.StatusOK || len(res.Body) != 0 {
				t.Errorf("%s: a range of an empty file: %d", role, res.Status)
			}
		}
	})
}

// postFile uploads data with a raw multipart part: any file name and content
// type, as a client other than Go's might send them.
func postFile(t testing.TB, sys *testsystem.System, role messages.Service, filename, contentType string, data []byte) api.File {
	t.Helper()
	var body bytes.Buffer
	fmt.Fprintf(&body, "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n", filename)
	if contentType != "" {
		fmt.Fprintf(&body, "Content-Type: %s\r\n", contentType)
	}
	body.WriteString("\r\n")
	body.Write(data)
	body.WriteString("\r\n--B--\r\n")
	req, err := http.NewRequest(http.MethodPost, sys.URL[role]+"/data/upload", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	res := testsystem.Do(t, req)
	if res.Status != http.StatusCreated {
		t.Fatalf("upload %q: %d %s", filename, res.Status, res.Body)
	}
	var f api.File
	res.JSON(t, &f)
	return f
}

func TestDownloadNamesTheFileSafelyAndTypesIt(t *testing.T) {
	sys := testsystem.Start(t, nil)
	text := []byte("Hello, world. Plain text, which nothing sniffs.\n")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	const octets = "application/octet-stream"
	type want struct {
		name        string // as a client reads Content-Disposition
		ascii       string // the plain filename= fallback
		contentType string
	}
	check := func(t *testing.T, role messages.Service, id string, w want) {
		t.Helper()
		res := call(t, sys, role, http.MethodGet, "/data/"+id+"/content", nil)
		conforms(t, http.MethodGet, contentRoute, res)
		cd := res.Header.Get("Content-Disposition")
		disposition, params, err := mime.ParseMediaType(cd)
		switch {
		case res.Status != http.StatusOK:
			t.Fatalf("%d %s", res.Status, res.Body)
		case err != nil || disposition != "attachment":
			t.Errorf("Content-Disposition %q does not parse: %v", cd, err)
		case params["filename"] != w.name:
			t.Errorf("Content-Disposition %q names %q, want %q", cd, params["filename"], w.name)
		case !strings.Contains(cd, `filename="`+w.ascii+`"`):
			t.Errorf("Content-Disposition %q: the ASCII fallback is not %q", cd, w.ascii)
		case strings.ContainsAny(cd, "\r\n\x00/\\"):
			t.Errorf("Content-Disposition %q has a control character or a path separator", cd)
		}
		if ct := res.Header.Get("Content-Type"); ct != w.contentType {
			t.Errorf("Content-Type %q, want %q", ct, w.contentType)
		}
		// One content type: the metadata says what the download says.
		var f api.File
		sys.Get(t, role, "/data/"+id).JSON(t, &f)
		if f.ContentType != res.Header.Get("Content-Type") {
			t.Errorf("metadata says content_type %q, the download %q", f.ContentType, res.Header.Get("Content-Type"))
		}
	}

	// Through HTTP, as a browser or curl sends them.
	httpCases := []struct {
		filename, contentType string
		data                  []byte
		meta                  string // the name kept as metadata
		want                  want
	}{
		{"Grüße, 世界.txt", "text/plain; charset=utf-8", text, "Grüße, 世界.txt",
			want{"Grüße, 世界.txt", "Gr__e, __.txt", "text/plain; charset=utf-8"}},
		{"../x", "", text, "x", want{"x", "x", octets}},                                    // multipart keeps the last element only
		{`..\..\evil.exe`, octets, text, "evil.exe", want{"evil.exe", "evil.exe", octets}}, // a Windows path: its last element only
		{"page.html", "text/html", []byte("<html><script>alert(1)</script></html>"), "page.html", want{"page.html", "page.html", "text/html"}},
		// Bytes that look like something are still what was declared, or
		// octet-stream when nothing was: never sniffed.
		{"picture.png", "", png, "picture.png", want{"picture.png", "picture.png", octets}},
		{"declared-octets.png", octets, png, "declared-octets.png", want{"declared-octets.png", "declared-octets.png", octets}},
		{"bad-type.bin", "nonsense", png, "bad-type.bin", want{"bad-type.bin", "bad-type.bin", octets}},
		{"declared.bin", "image/gif; name=x", text, "declared.bin", want{"declared.bin", "declared.bin", "image/gif; name=x"}},
	}
	for _, c := range httpCases {
		t.Run("http "+c.filename, func(t *testing.T) {
			f := postFile(t, sys, messages.Zeros, c.filename, c.contentType, c.data)
			if f.Name != c.meta {
				t.Errorf("name kept as %q, want %q", f.Name, c.meta)
			}
			check(t, f.StoredIn[0], f.ID, c.want)
		})
	}

	// Through the Go contract, whose names are any UTF-8 without NUL: what
	// another program sends is kept as it is and made safe on the way out.
	bus, _ := commandBus(t, sys)
	sender, err := messages.NewSender(bus, messages.SenderConfig{Origin: "names-test"})
	if err != nil {
		t.Fatal(err)
	}
	busCases := []struct {
		name string
		want want
	}{
		{"../x", want{".._x", ".._x", octets}},
		{"/etc/passwd", want{"_etc_passwd", "_etc_passwd", octets}},
		{"line\r\nSet-Cookie: a=b.txt", want{"lineSet-Cookie: a=b.txt", "lineSet-Cookie: a=b.txt", octets}},
		{`quote " and \ backslash.txt`, want{`quote " and _ backslash.txt`, `quote _ and _ backslash.txt`, octets}},
		{"\u202Etxt.exe", want{"txt.exe", "txt.exe", octets}},
		{"..", want{"", "", octets}}, // becomes the id
	}
	for _, c := range busCases {
		t.Run(fmt.Sprintf("bus %q", c.name), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			sent, err := sender.Send(ctx, messages.File{Name: c.name}, bytes.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			f := waitHeld(t, sys, messages.Zeros, sent.UploadID) // text has more zero bits
			if f.Name != c.name {
				t.Errorf("name kept as %q, want %q", f.Name, c.name)
			}
			w := c.want
			if w.name == "" {
				w.name, w.ascii = f.ID, f.ID
			}
			check(t, messages.Zeros, f.ID, w)
		})
	}
}
