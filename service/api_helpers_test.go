package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/santhosh-tekuri/jsonschema/v6"

	httpport "github.com/baum-store/baum/handlers/http"
	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// call sends a request with headers to a service and reads the answer.
func call(t testing.TB, sys *testsystem.System, role messages.Service, method, path string, headers map[string]string) testsystem.Response {
	t.Helper()
	req, err := http.NewRequest(method, sys.URL[role]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return testsystem.Do(t, req)
}

// commandBus is what another Go program uses to talk to BAUM: a command bus
// on the test's broker.
func commandBus(t testing.TB, sys *testsystem.System) (*cqrs.CommandBus, message.Publisher) {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: sys.Broker.Addrs()}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	bus, err := messages.NewCommandBus(pub, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	return bus, pub
}

// uploadFile uploads through HTTP and returns the 201 body.
func uploadFile(t testing.TB, sys *testsystem.System, role messages.Service, name string, data []byte) api.File {
	t.Helper()
	res := sys.Upload(t, role, name, data, "")
	if res.Status != http.StatusCreated {
		t.Fatalf("upload %q: status %d: %s", name, res.Status, res.Body)
	}
	var f api.File
	res.JSON(t, &f)
	return f
}

// waitHeld waits until role holds file id.
func waitHeld(t testing.TB, sys *testsystem.System, role messages.Service, id string) api.File {
	t.Helper()
	var f api.File
	testsystem.Eventually(t, 30*time.Second, func() string {
		res := sys.Get(t, role, "/data/"+id)
		if res.Status != http.StatusOK {
			return fmt.Sprintf("%s answers %d for %s", role, res.Status, id)
		}
		res.JSON(t, &f)
		return ""
	})
	return f
}

// metrics is one scrape of /metrics: value by series, e.g.
// `baum_placements_total{outcome="zeros",service="zeros"}`; histograms and
// summaries by their sample count, e.g. `baum_http_request_duration_seconds_count{…}`.
type metrics map[string]float64

// Its keys leave out the instance label every series carries (the one
// replica of role in sys); scrapeURL's keep it.
func scrape(t testing.TB, sys *testsystem.System, role messages.Service) metrics {
	t.Helper()
	return scrapeLabels(t, sys.URL[role], func(name string) bool { return name != "instance" })
}

// scrapeURL scrapes the replica answering at url, every label in the keys.
func scrapeURL(t testing.TB, url string) metrics {
	t.Helper()
	return scrapeLabels(t, url, func(string) bool { return true })
}

// scrapeLabels scrapes url/metrics, keyed by the labels keep says.
func scrapeLabels(t testing.TB, url string, keep func(label string) bool) metrics {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	res := testsystem.Do(t, req)
	role := url
	if res.Status != http.StatusOK {
		t.Fatalf("GET /metrics on %s: %d", role, res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatalf("metrics of %s do not parse: %v", role, err)
	}
	out := metrics{}
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				if !keep(l.GetName()) {
					continue
				}
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			count := name + "_count{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[count] = float64(m.GetHistogram().GetSampleCount())
			case m.Summary != nil:
				out[count] = float64(m.GetSummary().GetSampleCount())
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// sum adds the series of a metric whose labels include all of want
// (`name="value"` strings).
func (m metrics) sum(name string, want ...string) float64 {
	var total float64
	for key, v := range m {
		if !strings.HasPrefix(key, name+"{") {
			continue
		}
		match := true
		for _, w := range want {
			if !strings.Contains(key, w) {
				match = false
				break
			}
		}
		if match {
			total += v
		}
	}
	return total
}

// The OpenAPI document, compiled once for the tests that check answers
// against it.
var (
	openAPIOnce sync.Once
	openAPIDoc  map[string]any
	openAPIComp *jsonschema.Compiler
	openAPIErr  error
)

const openAPIURL = "file:///openapi.json"

func loadOpenAPI(t testing.TB) map[string]any {
	t.Helper()
	openAPIOnce.Do(func() {
		raw, err := httpport.OpenAPIDocument(messages.Zeros)
		if err != nil {
			openAPIErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			openAPIErr = err
			return
		}
		openAPIDoc = doc.(map[string]any)
		openAPIComp = jsonschema.NewCompiler()
		openAPIComp.DefaultDraft(jsonschema.Draft2020)
		openAPIComp.AssertFormat()
		openAPIErr = openAPIComp.AddResource(openAPIURL, doc)
	})
	if openAPIErr != nil {
		t.Fatalf("OpenAPI document: %v", openAPIErr)
	}
	return openAPIDoc
}

// pointerEscape escapes a JSON pointer token.
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// conforms checks an answer against the OpenAPI document: its status must be
// documented for the route (or be a 404/405 of an unknown path or method),
// and a JSON body must match the documented schema.
func conforms(t testing.TB, method, pattern string, res testsystem.Response) {
	t.Helper()
	doc := loadOpenAPI(t)
	paths := doc["paths"].(map[string]any)
	op, _ := paths[pattern].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		t.Fatalf("the OpenAPI document has no %s %s", method, pattern)
	}
	status := fmt.Sprint(res.Status)
	resp, ok := op["responses"].(map[string]any)[status].(map[string]any)
	if !ok {
		t.Errorf("%s %s answered %d, which the OpenAPI document does not list: %s", method, pattern, res.Status, res.Body)
		return
	}
	if ref, ok := resp["$ref"].(string); ok {
		resp = doc["components"].(map[string]any)["responses"].(map[string]any)[strings.TrimPrefix(ref, "#/components/responses/")].(map[string]any)
	}
	content, _ := resp["content"].(map[string]any)
	ctype := res.Header.Get("Content-Type")
	if content == nil || method == http.MethodHead {
		if len(res.Body) != 0 {
			t.Errorf("%s %s %d: the document lists no body, but there is one: %.200s", method, pattern, res.Status, res.Body)
		}
		return
	}
	if !strings.HasPrefix(ctype, "application/json") {
		return // a file, a page, metrics: nothing to validate against a schema
	}
	if _, ok := content["application/json"]; !ok {
		t.Errorf("%s %s %d: answered JSON, the document lists %v", method, pattern, res.Status, keys(content))
		return
	}
	ptr := "#/paths/" + pointerEscape(pattern) + "/" + strings.ToLower(method) + "/responses/" + status + "/content/application~1json/schema"
	if ref, ok := op["responses"].(map[string]any)[status].(map[string]any)["$ref"].(string); ok {
		ptr = ref + "/content/application~1json/schema"
	}
	schema, err := openAPIComp.Compile(openAPIURL + ptr)
	if err != nil {
		t.Fatalf("compile %s: %v", ptr, err)
	}
	body, err := jsonschema.UnmarshalJSON(bytes.NewReader(res.Body))
	if err != nil {
		t.Errorf("%s %s %d: body is not JSON: %s", method, pattern, res.Status, res.Body)
		return
	}
	if err := schema.Validate(body); err != nil {
		t.Errorf("%s %s %d: body does not match the OpenAPI document: %v\n%s", method, pattern, res.Status, err, res.Body)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readAll reads an io.Reader whole, failing the test on error.
func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustJSON encodes v.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
