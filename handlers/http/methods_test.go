package http_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Every 405 says which methods the path serves (RFC 9110 §15.5.6), and every
// GET answers HEAD too: the same status and headers, no body.
func TestEvery405CarriesAllowAndEveryGETAnswersHEAD(t *testing.T) {
	srv := httptest.NewServer(newServer(t, &bus{}))
	defer srv.Close()
	id := "/data/01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodPut, "/data", "GET, HEAD"},
		{http.MethodPost, id, "GET, HEAD, DELETE"},
		{http.MethodPatch, id + "/content", "GET, HEAD"},
		{http.MethodGet, "/data/upload", "POST"},
		{http.MethodDelete, "/data/uploads/01a21aec-2e12-7f30-a7b5-9c4a2553c6a1", "GET, HEAD"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/docs", "GET, HEAD"},
		{"PURGE", "/openapi.json", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Status int }
		json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || e.Status != 405 || res.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405 with Allow %q", c.method, c.path, res.StatusCode, res.Header.Get("Allow"), c.allow)
		}
	}
	for _, path := range []string{"/docs", "/openapi.json", "/healthz", "/readyz", "/data", id} {
		get, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		get.Body.Close()
		head, err := http.Head(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		head.Body.Close()
		if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q; GET: %d %q", path, head.StatusCode, head.Header.Get("Content-Type"), get.StatusCode, get.Header.Get("Content-Type"))
		}
	}
}
