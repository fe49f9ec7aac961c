package service_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// The OpenAPI document served by each service describes exactly the routes
// its router serves: every route is in the document, every operation in the
// document is a route.
func TestOpenAPIDocumentDescribesEveryRouteAndNothingElse(t *testing.T) {
	sys := testsystem.Start(t, nil)
	for _, role := range messages.Services() {
		t.Run(string(role), func(t *testing.T) {
			res := sys.Get(t, role, "/openapi.json")
			if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET /openapi.json: %d %q", res.Status, res.Header.Get("Content-Type"))
			}
			var doc struct {
				OpenAPI string `json:"openapi"`
				Info    struct {
					Title string `json:"title"`
				} `json:"info"`
				Paths map[string]map[string]json.RawMessage `json:"paths"`
			}
			res.JSON(t, &doc)
			if doc.OpenAPI != "3.1.0" || doc.Info.Title != "BAUM "+string(role) {
				t.Errorf("openapi %q, title %q", doc.OpenAPI, doc.Info.Title)
			}
			documented := map[string]bool{}
			for p, item := range doc.Paths {
				for method := range item {
					if slices.Contains(httpMethods, method) {
						documented[strings.ToUpper(method)+" "+p] = true
					}
				}
			}
			routes, err := sys.Services[role].API().Routes()
			if err != nil {
				t.Fatal(err)
			}
			served := map[string]bool{}
			for _, r := range routes {
				served[r.Method+" "+r.Pattern] = true
			}
			for r := range served {
				if !documented[r] {
					t.Errorf("the router serves %s, the OpenAPI document does not describe it", r)
				}
			}
			for op := range documented {
				if !served[op] {
					t.Errorf("the OpenAPI document describes %s, the router does not serve it", op)
				}
			}
			if len(served) < 13 {
				t.Errorf("only %d routes walked: %v", len(served), routes)
			}
		})
	}
}

// The document is sound: every $ref resolves, every path parameter is
// declared, and the enums agree with the code.
func TestOpenAPIDocumentIsSound(t *testing.T) {
	doc := loadOpenAPI(t)
	paths := doc["paths"].(map[string]any)
	param := regexp.MustCompile(`\{([^}]+)\}`)
	operationIDs := map[string]bool{}
	for p, item := range paths {
		for method, v := range item.(map[string]any) {
			op := v.(map[string]any)
			id, _ := op["operationId"].(string)
			if id == "" || operationIDs[id] {
				t.Errorf("%s %s: operationId %q missing or not unique", method, p, id)
			}
			operationIDs[id] = true
			declared := map[string]bool{}
			for _, prm := range op["parameters"].([]any) {
				prm := resolve(t, doc, prm.(map[string]any))
				if prm["in"] == "path" {
					declared[prm["name"].(string)] = true
				}
			}
			for _, m := range param.FindAllStringSubmatch(p, -1) {
				if !declared[m[1]] {
					t.Errorf("%s %s: path parameter %s is not declared", method, p, m[1])
				}
			}
			responses := op["responses"].(map[string]any)
			has2xx := false
			for status, r := range responses {
				has2xx = has2xx || strings.HasPrefix(status, "2") || strings.HasPrefix(status, "3")
				resolve(t, doc, r.(map[string]any))
			}
			if !has2xx {
				t.Errorf("%s %s documents no success or redirect", method, p)
			}
		}
	}
	// Every schema compiles, so every $ref inside resolves, and its
	// examples (what Swagger UI shows) are valid.
	examples := 0
	for name, v := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		schema, err := openAPIComp.Compile(openAPIURL + "#/components/schemas/" + name)
		if err != nil {
			t.Errorf("schema %s: %v", name, err)
			continue
		}
		ex, _ := v.(map[string]any)["examples"].([]any)
		for _, e := range ex {
			examples++
			if err := schema.Validate(e); err != nil {
				t.Errorf("an example of %s is not valid: %v", name, err)
			}
		}
	}
	if examples < 4 {
		t.Errorf("%d examples", examples)
	}
	enum := func(ptr ...string) []string {
		var v any = doc
		for _, k := range ptr {
			v = v.(map[string]any)[k]
		}
		var out []string
		for _, e := range v.([]any) {
			out = append(out, e.(string))
		}
		return out
	}
	schemas := []string{"components", "schemas"}
	if got := enum(append(schemas, "Failure", "properties", "reason", "enum")...); !slices.Equal(got, messages.FailureReasons()) {
		t.Errorf("failure reasons documented %v, the contract has %v", got, messages.FailureReasons())
	}
	if got := enum(append(schemas, "Service", "enum")...); !slices.Equal(got, []string{"zeros", "ones"}) {
		t.Errorf("services documented %v", got)
	}
	// The same document is served by both services, on whatever ports
	// they were given: it names none.
	info := doc["info"].(map[string]any)
	if desc := info["description"].(string); regexp.MustCompile(`\bport\b|:\d{2,5}\b|\b80[08]0\b`).MatchString(desc) {
		t.Errorf("the description names ports: %q", desc)
	}
	if got := enum(append(schemas, "Upload", "properties", "state", "enum")...); !slices.Equal(got, []string{"receiving", "counting", "placed", "failed"}) {
		t.Errorf("states documented %v", got)
	}
}

// noRedirect gets url without following a redirect.
func noRedirect(t *testing.T, url string) testsystem.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return testsystem.Response{Status: res.StatusCode, Header: res.Header, Body: readAll(t, res.Body)}
}

func resolve(t *testing.T, doc map[string]any, v map[string]any) map[string]any {
	t.Helper()
	ref, ok := v["$ref"].(string)
	if !ok {
		return v
	}
	var cur any = doc
	for _, k := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("$ref %s does not resolve", ref)
		}
		cur = m[k]
	}
	out, ok := cur.(map[string]any)
	if !ok {
		t.Fatalf("$ref %s does not resolve", ref)
	}
	return out
}

// What the services answer matches the schemas of the document, for every
// endpoint and the errors they give.
func TestAnswersMatchTheOpenAPIDocument(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_MAX_UPLOAD_BYTES": "100000"})
	z := messages.Zeros
	upload := func(query string, body []byte, contentType string) testsystem.Response {
		req, _ := http.NewRequest(http.MethodPost, sys.URL[z]+"/data/upload"+query, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		return testsystem.Do(t, req)
	}
	body, ctype := testsystem.MultipartFile(t, "a.bin", make([]byte, 10))
	placed := upload("", body.Bytes(), ctype)
	var f api.File
	placed.JSON(t, &f)
	body2, ctype2 := testsystem.MultipartFile(t, "b.bin", make([]byte, 10))
	big, bigType := testsystem.MultipartFile(t, "big.bin", make([]byte, 100001))
	cases := []struct {
		method, pattern string
		res             testsystem.Response
		status          int
	}{
		{"POST", "/data/upload", placed, 201},
		{"POST", "/data/upload", upload("?wait=0", body2.Bytes(), ctype2), 202},
		{"POST", "/data/upload", upload("", []byte("x"), "text/plain"), 415},
		{"POST", "/data/upload", upload("", []byte("--B--\r\n"), "multipart/form-data; boundary=B"), 400},
		{"POST", "/data/upload", upload("", big.Bytes(), bigType), 413},
		{"GET", "/data", sys.Get(t, z, "/data?limit=1"), 200},
		{"GET", "/data", sys.Get(t, z, "/data?limit=x"), 400},
		{"GET", "/data/{id}", sys.Get(t, z, "/data/"+f.ID), 200},
		{"GET", "/data/{id}", sys.Get(t, z, "/data/x"), 400},
		{"GET", "/data/{id}", sys.Get(t, messages.Ones, "/data/"+f.ID), 404},
		{"GET", "/data/uploads/{id}", sys.Get(t, z, "/data/uploads/"+f.ID), 200},
		{"GET", "/healthz", sys.Get(t, z, "/healthz"), 200},
		{"GET", "/readyz", sys.Get(t, z, "/readyz"), 200},
		{"GET", "/metrics", sys.Get(t, z, "/metrics"), 200},
		{"GET", "/openapi.json", sys.Get(t, z, "/openapi.json"), 200},
		{"GET", "/docs", sys.Get(t, z, "/docs"), 200},
		{"GET", "/docs/", noRedirect(t, sys.URL[z]+"/docs/"), 301},
		{"GET", "/docs/{asset}", sys.Get(t, z, "/docs/swagger-ui.css"), 200},
		{"GET", "/docs/{asset}", sys.Get(t, z, "/docs/nothing.js"), 404},
	}
	for _, c := range cases {
		if c.res.Status != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.pattern, c.res.Status, c.status, c.res.Body)
		}
		conforms(t, c.method, c.pattern, c.res)
	}
	// Errors of paths and methods no operation lists are JSON errors too.
	for _, res := range []testsystem.Response{sys.Get(t, z, "/nope"), call(t, sys, z, http.MethodPut, "/data", nil), sys.Get(t, z, "/data/upload")} {
		var e api.Error
		res.JSON(t, &e)
		if res.Status != e.Status || e.Status != 404 && e.Status != 405 {
			t.Errorf("%d %s", res.Status, res.Body)
		}
	}
}

// GET /docs is Swagger UI pointed at /openapi.json, with every script, style
// sheet and icon it references served by the binary itself.
func TestDocsPageLoadsItsEmbeddedAssets(t *testing.T) {
	sys := testsystem.Start(t, nil)
	for _, role := range messages.Services() {
		page := sys.Get(t, role, "/docs")
		if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /docs on %s: %d %q", role, page.Status, page.Header.Get("Content-Type"))
		}
		html := string(page.Body)
		if !strings.Contains(html, `"swaggerJsonUrl":"/openapi.json"`) || !strings.Contains(html, "BAUM "+string(role)) {
			t.Errorf("the page does not point at /openapi.json or name %s:\n%s", role, html)
		}
		refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
		want := map[string][]string{
			".js":  {"application/javascript", "text/javascript", "text/javascript; charset=utf-8"},
			".css": {"text/css", "text/css; charset=utf-8"},
			".png": {"image/png"},
		}
		compressed := map[string]bool{".js": true, ".css": true} // icons are compressed already
		seen := map[string]bool{}
		for _, m := range refs {
			ref := m[1]
			if strings.Contains(ref, "//") {
				t.Errorf("the page loads %s from elsewhere: it must work offline", ref)
				continue
			}
			seen[path.Ext(ref)] = true
			for _, gzip := range []bool{false, true} {
				req, _ := http.NewRequest(http.MethodGet, sys.URL[role]+ref, nil)
				if gzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				res, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK || !slices.Contains(want[path.Ext(ref)], res.Header.Get("Content-Type")) {
					t.Errorf("%s (gzip %v): %d %q", ref, gzip, res.StatusCode, res.Header.Get("Content-Type"))
				}
				if enc := res.Header.Get("Content-Encoding"); (gzip && compressed[path.Ext(ref)]) != (enc == "gzip") {
					t.Errorf("%s (gzip %v): Content-Encoding %q", ref, gzip, enc)
				}
			}
		}
		for ext := range want {
			if !seen[ext] {
				t.Errorf("the page references no %s asset: %v", ext, refs)
			}
		}
		// The scripts are whole: the bundle defines SwaggerUIBundle.
		bundle := sys.Get(t, role, "/docs/swagger-ui-bundle.js")
		if !bytes.Contains(bundle.Body, []byte("SwaggerUIBundle")) || len(bundle.Body) < 500_000 {
			t.Errorf("swagger-ui-bundle.js: %d bytes", len(bundle.Body))
		}
	}
}
