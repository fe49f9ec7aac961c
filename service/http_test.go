package service_test

import (
	"bytes"
	"fmt"
	"net/http"
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
