package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/compose-spec/compose-go/v2/types"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The monitoring profile's files, checked without running Prometheus or
// Grafana. Prometheus' own config package would pull the whole Prometheus
// server (every service-discovery client) into go.mod, so the config is
// decoded strictly (an unknown or misspelt key fails) into the subset of its
// schema we use, and held against docker-compose.yaml. The dashboard's
// queries are checked against a live /metrics in
// TestComposeEnvironmentRunsTheSystem.

func decodeYAMLStrict(t testing.TB, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// promConfig is the part of Prometheus' configuration file we use.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		HonorLabels   bool   `yaml:"honor_labels"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// mountSource returns the host path bound at target in a compose service.
func mountSource(t testing.TB, name, target string) string {
	t.Helper()
	return mountSourceIn(t, loadCompose(t, nil, "monitoring"), name, target)
}

// mountSourceIn is mountSource in project p.
func mountSourceIn(t testing.TB, p *types.Project, name, target string) string {
	t.Helper()
	for _, v := range composeService(t, p, name).Volumes {
		if v.Target == target {
			rel, err := filepath.Rel(p.WorkingDir, v.Source)
			if err != nil {
				t.Fatal(err)
			}
			return rel
		}
	}
	t.Fatalf("%s mounts nothing at %s", name, target)
	return ""
}

func TestPrometheusConfig(t *testing.T) {
	checkPrometheus(t, loadCompose(t, nil, "monitoring"), "prometheus.yml")
}

// With two replicas per role, Prometheus scrapes every replica (each one's
// series carry its instance label).
func TestPrometheusScrapesEveryReplica(t *testing.T) {
	p := loadComposeFiles(t, []string{"docker-compose.yaml", "compose.replicas.yaml"}, nil, "monitoring")
	checkPrometheus(t, p, "prometheus-replicas.yml")
}

// checkPrometheus checks the Prometheus of project p: it reads
// deploy/prometheus/<name>, a valid configuration that scrapes every BAUM
// service of p on the port it listens on.
func checkPrometheus(t *testing.T, p *types.Project, name string) {
	t.Helper()
	prom := composeService(t, p, "prometheus")
	configPath := ""
	for _, arg := range prom.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			configPath = v
		}
	}
	file := mountSourceIn(t, p, "prometheus", configPath)
	if file != filepath.Join("deploy", "prometheus", name) {
		t.Errorf("Prometheus reads %s", file)
	}
	var c promConfig
	decodeYAMLStrict(t, file, &c)

	for name, d := range map[string]string{"scrape_interval": c.Global.ScrapeInterval, "scrape_timeout": c.Global.ScrapeTimeout, "evaluation_interval": c.Global.EvaluationInterval} {
		if _, err := time.ParseDuration(d); err != nil {
			t.Errorf("global.%s %q: %v", name, d, err)
		}
	}
	interval, _ := time.ParseDuration(c.Global.ScrapeInterval)
	timeout, _ := time.ParseDuration(c.Global.ScrapeTimeout)
	if timeout > interval {
		t.Errorf("scrape_timeout %s exceeds scrape_interval %s (Prometheus refuses that)", timeout, interval)
	}

	scraped := map[string]bool{}
	jobs := map[string]bool{}
	for _, sc := range c.ScrapeConfigs {
		if sc.JobName == "" || jobs[sc.JobName] {
			t.Errorf("job name %q empty or repeated", sc.JobName)
		}
		jobs[sc.JobName] = true
		if !sc.HonorLabels {
			t.Errorf("job %s: without honor_labels the services' instance label (the replica) becomes exported_instance", sc.JobName)
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %s; the services serve /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("target %q: %v", target, err)
					continue
				}
				s, ok := p.Services[host]
				if !ok {
					t.Errorf("target %s: no compose service %s", target, host)
					continue
				}
				if _, listen, _ := net.SplitHostPort(envOf(s)["BAUM_HTTP_ADDR"]); listen != port {
					t.Errorf("target %s: %s listens on %q", target, host, envOf(s)["BAUM_HTTP_ADDR"])
				}
				scraped[host] = true
			}
		}
	}
	for svcName, svc := range p.Services {
		if envOf(svc)["BAUM_ROLE"] != "" && !scraped[svcName] {
			t.Errorf("Prometheus does not scrape %s", svcName)
		}
	}
	if _, port, _ := net.SplitHostPort("x:" + fmt.Sprint(prom.Ports[0].Target)); port != "9090" {
		t.Errorf("prometheus port %v", prom.Ports)
	}
}

// grafanaFiles are Grafana's provisioning files and the dashboard.
type datasourceFile struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string         `yaml:"name"`
		UID       string         `yaml:"uid"`
		Type      string         `yaml:"type"`
		Access    string         `yaml:"access"`
		URL       string         `yaml:"url"`
		IsDefault bool           `yaml:"isDefault"`
		Editable  bool           `yaml:"editable"`
		JSONData  map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type dashboardProviders struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		Folder                string `yaml:"folder"`
		Type                  string `yaml:"type"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Datasource datasourceRef   `json:"datasource"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// loadDashboard reads the dashboard Grafana is provisioned with, and checks
// that the provisioning files point at it and at the compose Prometheus.
func loadDashboard(t testing.TB) (dashboard, string) {
	t.Helper()
	p := loadCompose(t, nil, "monitoring")
	provisioning := mountSource(t, "grafana", "/etc/grafana/provisioning")
	var ds datasourceFile
	decodeYAMLStrict(t, filepath.Join(provisioning, "datasources", "prometheus.yaml"), &ds)
	if len(ds.Datasources) != 1 {
		t.Fatalf("%d data sources, want the one Prometheus", len(ds.Datasources))
	}
	src := ds.Datasources[0]
	if src.Type != "prometheus" || src.UID == "" || !src.IsDefault || src.Access != "proxy" {
		t.Errorf("data source %+v", src)
	}
	promPort := fmt.Sprint(composeService(t, p, "prometheus").Ports[0].Target)
	if src.URL != "http://prometheus:"+promPort {
		t.Errorf("data source URL %s; Prometheus is prometheus:%s on the compose network", src.URL, promPort)
	}

	var providers dashboardProviders
	decodeYAMLStrict(t, filepath.Join(provisioning, "dashboards", "baum.yaml"), &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers %+v", providers)
	}
	dir := providers.Providers[0].Options.Path
	hostDir := mountSource(t, "grafana", dir)
	home := envOf(composeService(t, p, "grafana"))["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if filepath.Dir(home) != dir {
		t.Errorf("home dashboard %s is not in the provisioned folder %s", home, dir)
	}
	file := filepath.Join(hostDir, filepath.Base(home))
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d, src.UID
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestGrafanaDashboardIsWellFormed(t *testing.T) {
	d, uid := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	ids := map[int]bool{}
	type rect struct{ x0, y0, x1, y1 int }
	var placed []rect
	queries := 0
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q grid %+v", p.Title, g)
		}
		r := rect{g.X, g.Y, g.X + g.W, g.Y + g.H}
		for _, o := range placed {
			if r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1 {
				t.Errorf("panel %q overlaps another", p.Title)
			}
		}
		placed = append(placed, r)
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no title or no query", p.ID, p.Title)
		}
		for _, ref := range []*datasourceRef{p.Datasource} {
			if ref == nil || ref.UID != uid {
				t.Errorf("panel %q does not use the provisioned data source %s", p.Title, uid)
			}
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != uid {
				t.Errorf("panel %q query %s does not use data source %s", p.Title, tg.RefID, uid)
			}
			q, err := parsePromQL(tg.Expr)
			if err != nil {
				t.Errorf("panel %q: %q: %v", p.Title, tg.Expr, err)
			} else if len(q.selectors) == 0 {
				t.Errorf("panel %q: %q names no metric", p.Title, tg.Expr)
			}
			queries++
		}
	}
	// What the issue asks the dashboard to show.
	var all strings.Builder
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			all.WriteString(tg.Expr + "\n")
		}
	}
	for _, want := range []string{"baum_uploads_total", "baum_stored_bytes", "baum_placements_total", "baum_watermill_handler_execution_time_seconds_bucket",
		`success="false"`, "baum_poisoned_messages_total", "baum_http_request_duration_seconds_bucket", "baum_consumer_lag"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no panel shows %s", want)
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries", queries)
	}
	checkReplicaSums(t, allPanels(d.Panels))
}

// perRole are series every replica of a role exports with the same value,
// read from the role's shared database or from Kafka: summed over the
// replicas they would count the role twice.
var perRole = []string{"baum_stored_bytes", "baum_stored_files", "baum_consumer_lag"}

var sumOp = regexp.MustCompile(`\bsum\s*(by|without|\()`)

// checkReplicaSums fails a panel that sums a per-role series over replicas,
// or that takes the max of placements without summing each role's
// replicas first (each replica counts the placements it handled).
func checkReplicaSums(t *testing.T, panels []panel) {
	t.Helper()
	for _, p := range panels {
		for _, tg := range p.Targets {
			for _, name := range perRole {
				if strings.Contains(tg.Expr, name) && sumOp.MatchString(tg.Expr) {
					t.Errorf("panel %q sums %s over the replicas of a role: %s", p.Title, name, tg.Expr)
				}
			}
			if strings.Contains(tg.Expr, "baum_placements_total") && !strings.Contains(tg.Expr, "sum by (service, outcome)") {
				t.Errorf("panel %q: placements must be summed per role over its replicas: %s", p.Title, tg.Expr)
			}
		}
	}
}

// promQuery is what the dashboard check needs from one PromQL expression.
type promQuery struct {
	selectors []promSelector
	grouping  []string // label names in by / without / on / ignoring / group_left / group_right
}

type promSelector struct {
	metric string
	labels []string // label names in its matchers
}

var promFunctions = []string{"sum", "min", "max", "avg", "count", "stddev", "topk", "bottomk", "quantile",
	"rate", "irate", "increase", "delta", "deriv", "histogram_quantile", "vector", "scalar", "abs", "clamp_min",
	"clamp_max", "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "label_replace", "absent"}

// parsePromQL reads the metric names, matcher labels and grouping labels of
// a PromQL expression as Grafana sends it. It is a small scanner, not a full
// parser: Prometheus' parser would pull the Prometheus server module into
// go.mod. It rejects what it does not understand rather than guess.
func parsePromQL(expr string) (promQuery, error) {
	var q promQuery
	s := []rune(expr)
	i := 0
	isIdentStart := func(r rune) bool { return r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
	isIdent := func(r rune) bool { return isIdentStart(r) || r >= '0' && r <= '9' }
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
	}
	ident := func() string {
		start := i
		for i < len(s) && isIdent(s[i]) {
			i++
		}
		return string(s[start:i])
	}
	str := func() error {
		quote := s[i]
		for i++; i < len(s); i++ {
			if s[i] == '\\' {
				i++
			} else if s[i] == quote {
				i++
				return nil
			}
		}
		return fmt.Errorf("unterminated string")
	}
	labelList := func() ([]string, error) {
		skipSpace()
		if i >= len(s) || s[i] != '(' {
			return nil, fmt.Errorf("expected ( at %d", i)
		}
		i++
		var out []string
		for {
			skipSpace()
			if i < len(s) && s[i] == ')' {
				i++
				return out, nil
			}
			if i >= len(s) || !isIdentStart(s[i]) {
				return nil, fmt.Errorf("expected a label name at %d", i)
			}
			out = append(out, ident())
			skipSpace()
			if i < len(s) && s[i] == ',' {
				i++
			}
		}
	}
	for i < len(s) {
		r := s[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || strings.ContainsRune("()+-*/%^,=!<>", r):
			i++
		case r == '"' || r == '\'' || r == '`':
			if err := str(); err != nil {
				return q, err
			}
		case r == '[':
			j := strings.IndexRune(string(s[i:]), ']')
			if j < 0 {
				return q, fmt.Errorf("unclosed [")
			}
			i += len([]rune(string(s[i:])[:j])) + 1
		case r == '{':
			if len(q.selectors) == 0 || i == 0 || !isIdent(s[i-1]) {
				return q, fmt.Errorf("a matcher block at %d without a metric name before it", i)
			}
			i++
			sel := &q.selectors[len(q.selectors)-1]
			for {
				skipSpace()
				if i < len(s) && s[i] == '}' {
					i++
					break
				}
				if i >= len(s) || !isIdentStart(s[i]) {
					return q, fmt.Errorf("expected a label name at %d", i)
				}
				sel.labels = append(sel.labels, ident())
				skipSpace()
				for i < len(s) && strings.ContainsRune("=!~", s[i]) {
					i++
				}
				skipSpace()
				if i >= len(s) || s[i] != '"' {
					return q, fmt.Errorf("expected a quoted value at %d", i)
				}
				if err := str(); err != nil {
					return q, err
				}
				skipSpace()
				if i < len(s) && s[i] == ',' {
					i++
				}
			}
		case r >= '0' && r <= '9' || r == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(r):
			word := ident()
			switch word {
			case "by", "without", "on", "ignoring", "group_left", "group_right":
				labels, err := labelList()
				if err != nil {
					return q, err
				}
				q.grouping = append(q.grouping, labels...)
				continue
			case "and", "or", "unless", "bool", "offset":
				continue
			}
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			rest := string(s[j:])
			if j < len(s) && s[j] == '(' || strings.HasPrefix(rest, "by") || strings.HasPrefix(rest, "without") {
				if !slices.Contains(promFunctions, word) {
					return q, fmt.Errorf("unknown function %q", word)
				}
				continue
			}
			q.selectors = append(q.selectors, promSelector{metric: word})
		default:
			return q, fmt.Errorf("unexpected %q at %d", r, i)
		}
	}
	return q, nil
}

func TestParsePromQL(t *testing.T) {
	q, err := parsePromQL(`histogram_quantile(0.95, sum by (le, service) (rate(baum_x_bucket{service=~"$service", success="false"}[$__rate_interval]))) or vector(0) + on(service) group_left(role) foo:bar`)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.selectors) != 2 || q.selectors[0].metric != "baum_x_bucket" || !slices.Equal(q.selectors[0].labels, []string{"service", "success"}) ||
		q.selectors[1].metric != "foo:bar" || !slices.Equal(q.grouping, []string{"le", "service", "service", "role"}) {
		t.Errorf("%+v", q)
	}
	for _, bad := range []string{`rat(baum_x[5m])`, `{__name__="x"}`, `sum by service (x)`, `x{a=b}`, `x{a="b}`} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

var labelValuesQuery = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// checkDashboardAgainstMetrics fails every dashboard query that names a
// metric, or a label of one, that the services do not export. labels maps
// each exported series name to the label names it carries.
func checkDashboardAgainstMetrics(t *testing.T, labels map[string][]string) {
	t.Helper()
	d, _ := loadDashboard(t)
	check := func(where string, metric string, names []string) {
		have, ok := labels[metric]
		if !ok {
			t.Errorf("%s: metric %s is not exported by the services", where, metric)
			return
		}
		for _, l := range names {
			if !slices.Contains(have, l) {
				t.Errorf("%s: metric %s has no label %q (it has %v)", where, metric, l, have)
			}
		}
	}
	for _, v := range d.Templating.List {
		var query struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &query); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValuesQuery.FindStringSubmatch(query.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, query.Query)
			continue
		}
		check("variable "+v.Name, m[1], []string{m[2]})
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			q, err := parsePromQL(tg.Expr)
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			where := fmt.Sprintf("panel %q", p.Title)
			for _, sel := range q.selectors {
				check(where, sel.metric, sel.labels)
			}
			// A grouping label must exist on some metric of the query.
			for _, l := range q.grouping {
				found := false
				for _, sel := range q.selectors {
					found = found || slices.Contains(labels[sel.metric], l)
				}
				if !found {
					t.Errorf("%s groups by %q, which none of its metrics has", where, l)
				}
			}
		}
	}
}

// zeroFallback ends a query that shows 0, not "No data", while the series
// it selects do not exist yet (no handler failed, no 5xx since the start):
// "or on() vector(0)" adds the 0 only when the left side is empty.
var zeroFallback = regexp.MustCompile(`\bor on\(\)\s*(label_replace\()?vector\(0\)`)

// The panels an operator looks at for trouble say 0 when there is none, and
// the publish latency keeps every real publish, by where it comes from.
func TestErrorPanelsShowZeroAndPublishLatencyKeepsEveryPublish(t *testing.T) {
	d, _ := loadDashboard(t)
	byTitle := map[string]panel{}
	for _, p := range allPanels(d.Panels) {
		byTitle[p.Title] = p
	}
	for _, title := range []string{"Handler errors per second", "Server errors (5xx) per second"} {
		p, ok := byTitle[title]
		if !ok {
			t.Errorf("no panel %q", title)
			continue
		}
		for _, tg := range p.Targets {
			if !zeroFallback.MatchString(tg.Expr) {
				t.Errorf("panel %q shows \"No data\" until the first error: %s", title, tg.Expr)
			}
		}
	}
	// Watermill labels a publish made inside a handler (every event) with
	// its disabled publisher's name: filtering that name out would drop
	// them. The panel splits by origin instead.
	p, ok := byTitle["Publish latency (p95) by origin"]
	if !ok || len(p.Targets) != 1 {
		t.Fatalf("no publish latency panel with one query: %+v", p)
	}
	q, err := parsePromQL(p.Targets[0].Expr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(q.grouping, "handler_name") || strings.Contains(p.Targets[0].Expr, "publisher_name") {
		t.Errorf("publish latency %s: want it by handler_name, over every publisher", p.Targets[0].Expr)
	}
}

// Grafana reads datasources/, dashboards/, plugins/ and alerting/ of its
// provisioning folder at every start, and logs level=error for each one
// missing. Compose mounts deploy/grafana/provisioning over the image's
// folder (whose Dockerfile makes those folders), so all four must be in
// it, each with YAML files only (Grafana's alerting reader refuses other
// suffixes) of apiVersion 1.
func TestGrafanaProvisioningHasEveryFolderGrafanaReads(t *testing.T) {
	dir := mountSource(t, "grafana", "/etc/grafana/provisioning")
	for _, sub := range []string{"datasources", "dashboards", "plugins", "alerting"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil || len(entries) == 0 {
			t.Errorf("%s/%s: %v, %d files: Grafana would log an error, or git would not keep the folder", dir, sub, err, len(entries))
			continue
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); e.IsDir() || ext != ".yaml" && ext != ".yml" {
				t.Errorf("%s/%s/%s: not a YAML file", dir, sub, e.Name())
				continue
			}
			var head struct {
				APIVersion int `yaml:"apiVersion"`
			}
			raw, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil || yaml.Unmarshal(raw, &head) != nil || head.APIVersion != 1 {
				t.Errorf("%s/%s/%s: apiVersion %d (%v)", dir, sub, e.Name(), head.APIVersion, err)
			}
		}
	}
	var plugins struct {
		APIVersion int   `yaml:"apiVersion"`
		Apps       []any `yaml:"apps"`
	}
	decodeYAMLStrict(t, filepath.Join(dir, "plugins", "baum.yaml"), &plugins)
	var alerting struct {
		APIVersion int `yaml:"apiVersion"`
	}
	decodeYAMLStrict(t, filepath.Join(dir, "alerting", "baum.yaml"), &alerting)
	if len(plugins.Apps) != 0 {
		t.Errorf("plugins to provision: %v; the image has none installed", plugins.Apps)
	}
}
