package service_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// The tokens of TestAPITokens: two in BAUM_API_TOKENS, two in the file.
const (
	adminToken  = "admin-token-5f0c2a9e41d7b3"
	viewerToken = "viewer-token-c81e7d2b0a94f6"
	ciToken     = "ci-token-3a6b9d0e2f47c1"
	oldToken    = "old-token-e7f19c4a2b58d0"
)

// authRequest sends a request to a service with an Authorization header
// (none if authorization is empty).
func authRequest(t *testing.T, sys *testsystem.System, method, path, authorization string, body io.Reader, contentType string) testsystem.Response {
	t.Helper()
	req, err := http.NewRequest(method, sys.URL[messages.Zeros]+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return testsystem.Do(t, req)
}

// authUpload uploads data to zeros with an Authorization header.
func authUpload(t *testing.T, sys *testsystem.System, authorization string, data []byte) testsystem.Response {
	t.Helper()
	body, ctype := testsystem.MultipartFile(t, "secret.bin", data)
	return authRequest(t, sys, http.MethodPost, "/data/upload", authorization, body, ctype)
}

// refusedWith checks a 401 or 403: its status, its WWW-Authenticate, a
// JSON error that matches the OpenAPI document.
func refusedWith(t *testing.T, method, pattern string, res testsystem.Response, status int, authenticate string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s %s: %d %s, want %d", method, pattern, res.Status, res.Body, status)
	}
	if method != http.MethodHead { // HEAD answers have no body
		var e api.Error
		res.JSON(t, &e)
		if e.Status != status || e.Error == "" || e.CorrelationID != res.Header.Get("X-Correlation-ID") {
			t.Errorf("%s %s: %s is not the JSON error of a %d", method, pattern, res.Body, status)
		}
	}
	if got := res.Header.Get("WWW-Authenticate"); got != authenticate {
		t.Errorf("%s %s: WWW-Authenticate %q, want %q", method, pattern, got, authenticate)
	}
	conforms(t, method, pattern, res)
}

// noRedirectRequest sends a request without a body or token, and does not
// follow a redirect.
func noRedirectRequest(t *testing.T, method, url string) testsystem.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return testsystem.Response{Status: res.StatusCode, Header: res.Header, Body: readAll(t, res.Body)}
}

// With tokens configured, the file endpoints answer 401 to a request
// without a valid bearer token and 403 to a read token that writes; health,
// readiness, metrics and the docs stay open. A token removed from the token
// file is refused within seconds, without a restart, and no token ever
// shows in the logs.
func TestAPITokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	writeTokens := func(content string) {
		t.Helper()
		if err := os.WriteFile(file+".new", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil { // as a secret is updated: whole
			t.Fatal(err)
		}
	}
	writeTokens("# tokens of the machines\nci:write:" + ciToken + "\nold:read:" + oldToken + "\n")
	sys := testsystem.Start(t, map[string]string{
		"BAUM_API_TOKENS":      "admin:write:" + adminToken + ", viewer:read:" + viewerToken,
		"BAUM_API_TOKENS_FILE": file,
	})
	admin, viewer, ci, old := "Bearer "+adminToken, "Bearer "+viewerToken, "Bearer "+ciToken, "Bearer "+oldToken

	res := authUpload(t, sys, admin, make([]byte, 1000))
	if res.Status != http.StatusCreated {
		t.Fatalf("upload with the write token: %d %s", res.Status, res.Body)
	}
	var f api.File
	res.JSON(t, &f)

	t.Run("open", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/swagger-ui.css"} {
			if res := authRequest(t, sys, http.MethodGet, path, "", nil, ""); res.Status != http.StatusOK {
				t.Errorf("GET %s without a token: %d %s", path, res.Status, res.Body)
			}
		}
	})
	routes := []struct{ method, pattern, path string }{
		{http.MethodGet, "/data", "/data"},
		{http.MethodGet, "/data/{id}", "/data/" + f.ID},
		{http.MethodGet, "/data/{id}/content", "/data/" + f.ID + "/content"},
		{http.MethodHead, "/data/{id}/content", "/data/" + f.ID + "/content"},
		{http.MethodGet, "/data/uploads/{id}", "/data/uploads/" + f.ID},
		{http.MethodDelete, "/data/{id}", "/data/" + f.ID},
		{http.MethodPost, "/data/upload", "/data/upload"},
	}
	t.Run("missing or wrong", func(t *testing.T) {
		for _, r := range routes {
			for authorization, authenticate := range map[string]string{
				"":                              `Bearer realm="baum"`,
				"Basic YWRtaW46YWRtaW4=":        `Bearer realm="baum"`,
				"Bearer " + adminToken + "x":    `Bearer realm="baum", error="invalid_token"`,
				"Bearer wrong-token-0123456789": `Bearer realm="baum", error="invalid_token"`,
			} {
				res := authRequest(t, sys, r.method, r.path, authorization, nil, "")
				refusedWith(t, r.method, r.pattern, res, http.StatusUnauthorized, authenticate)
			}
		}
	})
	t.Run("read only", func(t *testing.T) {
		for _, r := range routes {
			res := authRequest(t, sys, r.method, r.path, viewer, nil, "")
			if r.method == http.MethodDelete || r.method == http.MethodPost {
				refusedWith(t, r.method, r.pattern, res, http.StatusForbidden, `Bearer realm="baum", error="insufficient_scope", scope="write"`)
			} else if res.Status != http.StatusOK {
				t.Errorf("%s %s with the read token: %d %s", r.method, r.path, res.Status, res.Body)
			}
		}
		if res := authUpload(t, sys, viewer, []byte("not stored")); res.Status != http.StatusForbidden {
			t.Errorf("upload with the read token: %d %s", res.Status, res.Body)
		}
		var list api.FileList
		authRequest(t, sys, http.MethodGet, "/data", viewer, nil, "").JSON(t, &list)
		if list.Count != 1 || list.TotalSize != 1000 {
			t.Errorf("after refused writes zeros holds %d files, %d bytes; want the one upload", list.Count, list.TotalSize)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		for _, a := range []string{ci, old} {
			if res := authRequest(t, sys, http.MethodGet, "/data", a, nil, ""); res.Status != http.StatusOK {
				t.Fatalf("a token of the file before revocation: %d %s", res.Status, res.Body)
			}
		}
		writeTokens("ci:write:" + ciToken + "\n") // "old" revoked
		testsystem.Eventually(t, 15*time.Second, func() string {
			if res := authRequest(t, sys, http.MethodGet, "/data", old, nil, ""); res.Status != http.StatusUnauthorized {
				return "the revoked token still gets " + http.StatusText(res.Status)
			}
			return ""
		})
		refusedWith(t, http.MethodGet, "/data", authRequest(t, sys, http.MethodGet, "/data", old, nil, ""),
			http.StatusUnauthorized, `Bearer realm="baum", error="invalid_token"`)
		// A broken file changes nothing: the tokens stay as they were.
		writeTokens("ci:write:" + ciToken + "\nnot-a-token-entry\n")
		testsystem.Eventually(t, 15*time.Second, func() string {
			if !strings.Contains(sys.Logs.String(), "cannot use the changed token file") {
				return "the broken token file is not reported"
			}
			return ""
		})
		for _, a := range []string{ci, admin} {
			if res := authUpload(t, sys, a, []byte{0}); res.Status != http.StatusCreated {
				t.Errorf("a write token after a broken token file: %d %s", res.Status, res.Body)
			}
		}
	})
	t.Run("documented", func(t *testing.T) {
		// Every route asks for a token exactly when the OpenAPI document
		// says it does.
		doc := loadOpenAPI(t)
		routes, err := sys.Services[messages.Zeros].API().Routes()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			op := doc["paths"].(map[string]any)[r.Pattern].(map[string]any)[strings.ToLower(r.Method)].(map[string]any)
			_, secured := op["security"]
			path := strings.NewReplacer("{id}", f.ID, "{asset}", "swagger-ui.css").Replace(r.Pattern)
			res := noRedirectRequest(t, r.Method, sys.URL[messages.Zeros]+path)
			if (res.Status == http.StatusUnauthorized) != secured {
				t.Errorf("%s %s without a token: %d; the document says security %v", r.Method, r.Pattern, res.Status, op["security"])
			}
		}
	})
	t.Run("delete with the write token", func(t *testing.T) {
		if res := authRequest(t, sys, http.MethodDelete, "/data/"+f.ID, admin, nil, ""); res.Status != http.StatusNoContent {
			t.Errorf("DELETE with the write token: %d %s", res.Status, res.Body)
		}
	})

	logs := sys.Logs.String()
	for _, token := range []string{adminToken, viewerToken, ciToken, oldToken} {
		if strings.Contains(logs, token) {
			t.Errorf("a token shows in the logs: %s…", token[:8])
		}
	}
	if !strings.Contains(logs, "the HTTP API asks for a bearer token") || !strings.Contains(logs, "viewer (read)") {
		t.Errorf("the start does not say which tokens are accepted:\n%s", sys.Logs.Tail(40))
	}
}

// Without tokens the API is open, and says so at start; BAUM_METRICS_ADDR
// moves /metrics off the API port.
func TestNoTokensWarnsAndMetricsMoveApart(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_METRICS_ADDR": "127.0.0.1:0"})
	if res := sys.Upload(t, messages.Zeros, "open.bin", []byte{0}, ""); res.Status != http.StatusCreated {
		t.Errorf("upload without tokens configured: %d %s", res.Status, res.Body)
	}
	if n := strings.Count(sys.Logs.String(), "the HTTP API asks for no token"); n != 2 {
		t.Errorf("%d warnings that the API is open, want one per service", n)
	}
	for _, role := range messages.Services() {
		if res := sys.Get(t, role, "/metrics"); res.Status != http.StatusNotFound {
			t.Errorf("%s: GET /metrics on the API port with BAUM_METRICS_ADDR set: %d", role, res.Status)
		}
		addr := sys.Services[role].MetricsAddr()
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("baum_http_requests_total")) {
			t.Errorf("%s: GET http://%s/metrics: %d %.200s", role, addr, res.StatusCode, body)
		}
	}
}
