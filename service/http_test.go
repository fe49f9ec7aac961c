package service_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

func TestBadRequestsGetClearJSONErrors(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_MAX_UPLOAD_BYTES": "1000"})
	url := sys.URL[messages.Zeros]
	post := func(contentType string, body string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, url+"/data/upload", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return req
	}
	form := func(field, name string, data []byte) (string, string) {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "--B\r\nContent-Disposition: form-data; name=%q; filename=%q\r\nContent-Type: application/octet-stream\r\n\r\n", field, name)
		buf.Write(data)
		buf.WriteString("\r\n--B--\r\n")
		return "multipart/form-data; boundary=B", buf.String()
	}
	get := func(path string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		return req
	}
	wrongField, wrongFieldBody := form("upload", "a.bin", []byte("abc"))
	big, bigBody := form("file", "big.bin", make([]byte, 1001))
	_, fitBody := form("file", "fit.bin", make([]byte, 1000))
	long, longBody := form("file", strings.Repeat("n", messages.MaxNameBytes+1), []byte("x"))
	cases := []struct {
		name   string
		req    *http.Request
		status int
		says   string
	}{
		{"no content type", post("", "abc"), http.StatusUnsupportedMediaType, "multipart/form-data"},
		{"wrong content type", post("application/json", `{"file": "x"}`), http.StatusUnsupportedMediaType, "multipart/form-data"},
		{"no boundary", post("multipart/form-data", "abc"), http.StatusBadRequest, "boundary"},
		{"no file field", post(wrongField, wrongFieldBody), http.StatusBadRequest, `no "file" field`},
		{"empty form", post("multipart/form-data; boundary=B", "--B--\r\n"), http.StatusBadRequest, `no "file" field`},
		{"broken multipart", post("multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"), http.StatusBadRequest, "cannot read the file: unexpected EOF"},
		{"garbage multipart", post("multipart/form-data; boundary=B", "not a multipart body at all"), http.StatusBadRequest, `no "file" field`},
		{"file over the limit", post(big, bigBody), http.StatusRequestEntityTooLarge, "1000 byte limit"},
		{"body far over the limit", post(big, bigBody+strings.Repeat("x", 2<<20)), http.StatusRequestEntityTooLarge, "1000 byte limit"},
		{"name too long", post(long, longBody), http.StatusBadRequest, "file name"},
		{"bad wait", post(big, fitBody), http.StatusBadRequest, "wait"},
		{"bad limit", get("/data?limit=0"), http.StatusBadRequest, "limit"},
		{"limit too large", get("/data?limit=100000"), http.StatusBadRequest, "limit"},
		{"bad cursor", get("/data?after=abc"), http.StatusBadRequest, "after"},
		{"bad id", get("/data/not-an-id"), http.StatusBadRequest, "not an id"},
		{"unknown file", get("/data/01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"), http.StatusNotFound, "no such file"},
		{"unknown upload", get("/data/uploads/01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"), http.StatusNotFound, "no such file or upload"},
		{"unknown route", get("/nope"), http.StatusNotFound, "no such endpoint"},
		{"wrong method", get("/data/upload"), http.StatusMethodNotAllowed, "not allowed"},
	}
	cases[10].req.URL.RawQuery = "wait=forever"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := testsystem.Do(t, c.req)
			if res.Status != c.status {
				t.Fatalf("status %d, want %d: %s", res.Status, c.status, res.Body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var e api.Error
			res.JSON(t, &e)
			if e.Status != c.status || !strings.Contains(e.Error, c.says) {
				t.Errorf("error body %+v should say %q", e, c.says)
			}
		})
	}
	// Nothing was stored by any of it, and a file at the limit still fits.
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 30*time.Second)
	for _, role := range messages.Services() {
		if held := listAll(t, sys, role); len(held) != 0 {
			t.Errorf("%s holds %d files after bad requests", role, len(held))
		}
	}
	if res := testsystem.Do(t, post(big, fitBody)); res.Status != http.StatusCreated {
		t.Errorf("a file of exactly the limit: %d %s", res.Status, res.Body)
	}
}

func TestSlowPlacementAnswers202ThenStatusShowsIt(t *testing.T) {
	sys := testsystem.Start(t, nil)
	res := sys.Upload(t, messages.Ones, "later.bin", bytes.Repeat([]byte{0xF0, 0xFF}, 100), "?wait=0")
	if res.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var st api.Upload
	res.JSON(t, &st)
	if loc := res.Header.Get("Location"); loc != st.StatusURL || loc != "/data/uploads/"+st.ID {
		t.Fatalf("Location %q, status_url %q", loc, st.StatusURL)
	}
	testsystem.Eventually(t, 20*time.Second, func() string {
		res := sys.Get(t, messages.Ones, st.StatusURL)
		res.JSON(t, &st)
		if st.State != "placed" {
			return "state " + st.State
		}
		return ""
	})
	if st.ZeroBits == nil || st.OneBits == nil || *st.ZeroBits != 400 || *st.OneBits != 1200 ||
		len(st.PlacedIn) != 1 || st.PlacedIn[0] != messages.Ones || len(st.StoredIn) != 1 {
		t.Errorf("status %+v", st)
	}
	// The other service knows the upload too, and where it went.
	testsystem.Eventually(t, 20*time.Second, func() string {
		other := sys.Get(t, messages.Zeros, st.StatusURL)
		var ost api.Upload
		other.JSON(t, &ost)
		if other.Status != http.StatusOK || ost.State != "placed" || len(ost.StoredIn) != 1 || ost.StoredIn[0] != messages.Ones {
			return fmt.Sprintf("zeros sees %d %s", other.Status, other.Body)
		}
		return ""
	})
	if res := sys.Get(t, messages.Zeros, "/data/"+st.ID); res.Status != http.StatusNotFound {
		t.Errorf("zeros serves a file it does not hold: %d", res.Status)
	}
	if res := sys.Get(t, messages.Ones, "/data/"+st.ID); res.Status != http.StatusOK {
		t.Errorf("ones does not serve its file: %d %s", res.Status, res.Body)
	}
}

func TestListingPagesByCursor(t *testing.T) {
	sys := testsystem.Start(t, nil)
	var ids []string
	for i := range 5 {
		res := sys.Upload(t, messages.Zeros, fmt.Sprintf("%d.txt", i), make([]byte, 10+i), "")
		var f api.File
		res.JSON(t, &f)
		ids = append(ids, f.ID)
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		var page api.FileList
		sys.Get(t, messages.Zeros, "/data?limit=2"+after).JSON(t, &page)
		if page.TotalSize != 10+11+12+13+14 || page.Count != 5 {
			t.Fatalf("totals %d/%d", page.TotalSize, page.Count)
		}
		if len(page.ListMetadata) > 2 {
			t.Fatalf("page of %d", len(page.ListMetadata))
		}
		for id := range page.ListMetadata {
			got = append(got, id)
		}
		if page.Next == nil {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		after = "&after=" + *page.Next
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ids))) {
		t.Fatalf("pages listed %v, uploaded %v", got, ids)
	}
}

// GET /data filters by name prefix, content type, size and time, sorts by
// stored_at, size or name either way, and pages through any of them by
// cursor; the totals stay the service's.
func TestListingFiltersSortsAndPages(t *testing.T) {
	sys := testsystem.Start(t, nil)
	z := messages.Zeros
	var up []api.File // in upload (and stored_at) order
	for _, c := range []struct {
		name, ctype string
		size        int
	}{
		{"a1.txt", "text/plain", 10}, {"a2.png", "image/png", 30}, {"b.png", "image/png", 20},
		{"report.pdf", "application/pdf", 50}, {"A.txt", "text/plain; charset=utf-8", 40}, {"a3", "", 30},
	} {
		up = append(up, postFile(t, sys, z, c.name, c.ctype, make([]byte, c.size)))
	}
	names := func(q string) []string {
		t.Helper()
		res := sys.Get(t, z, "/data"+q)
		conforms(t, http.MethodGet, "/data", res)
		var page api.FileList
		res.JSON(t, &page)
		if page.Count != 6 || page.TotalSize != 180 || len(page.Order) != len(page.ListMetadata) {
			t.Errorf("GET /data%s: totals %d/%d, %d ids in order for %d files", q, page.Count, page.TotalSize, len(page.Order), len(page.ListMetadata))
		}
		var out []string
		for _, id := range page.Order {
			out = append(out, page.ListMetadata[id].Name)
		}
		return out
	}
	since := url.QueryEscape(up[2].StoredAt.Format(time.RFC3339Nano))
	before := url.QueryEscape(up[4].StoredAt.Format(time.RFC3339Nano))
	for q, want := range map[string][]string{
		"":                                       {"a1.txt", "a2.png", "b.png", "report.pdf", "A.txt", "a3"},
		"?sort=size":                             {"a1.txt", "b.png", "a2.png", "a3", "A.txt", "report.pdf"},
		"?sort=size&order=desc":                  {"report.pdf", "A.txt", "a3", "a2.png", "b.png", "a1.txt"},
		"?sort=name":                             {"A.txt", "a1.txt", "a2.png", "a3", "b.png", "report.pdf"},
		"?sort=stored_at&order=desc":             {"a3", "A.txt", "report.pdf", "b.png", "a2.png", "a1.txt"},
		"?prefix=a":                              {"a1.txt", "a2.png", "a3"},
		"?prefix=a&sort=name&order=desc":         {"a3", "a2.png", "a1.txt"},
		"?content_type=text/plain":               {"a1.txt", "A.txt"},
		"?content_type=image/*&sort=size":        {"b.png", "a2.png"},
		"?content_type=application/octet-stream": {"a3"},
		"?min_size=20&max_size=30":               {"a2.png", "b.png", "a3"},
		"?stored_since=" + since + "&stored_before=" + before: {"b.png", "report.pdf"},
		"?prefix=zz": nil,
	} {
		if got := names(q); !slices.Equal(got, want) {
			t.Errorf("GET /data%s lists %v, want %v", q, got, want)
		}
	}
	// Pages of two, by size from the largest: each file once, in order.
	var got []string
	after := ""
	for range 5 {
		var page api.FileList
		sys.Get(t, z, "/data?limit=2&sort=size&order=desc"+after).JSON(t, &page)
		for _, id := range page.Order {
			got = append(got, page.ListMetadata[id].Name)
		}
		if page.Next == nil {
			break
		}
		after = "&after=" + url.QueryEscape(*page.Next)
	}
	if want := []string{"report.pdf", "A.txt", "a3", "a2.png", "b.png", "a1.txt"}; !slices.Equal(got, want) {
		t.Errorf("paged by size, largest first: %v, want %v", got, want)
	}
	var first api.FileList
	sys.Get(t, z, "/data?limit=2&sort=size").JSON(t, &first)
	for _, bad := range []string{"?sort=colour", "?order=up", "?min_size=-1", "?max_size=x", "?stored_since=yesterday",
		"?content_type=image", "?sort=name&after=" + url.QueryEscape(*first.Next), "?after=" + url.QueryEscape(*first.Next)} {
		res := sys.Get(t, z, "/data"+bad)
		conforms(t, http.MethodGet, "/data", res)
		if res.Status != http.StatusBadRequest {
			t.Errorf("GET /data%s: %d, want 400", bad, res.Status)
		}
	}
}
