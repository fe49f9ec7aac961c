package deploy_test

import (
	"bufio"
	"context"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

// These tests load docker-compose.yaml with the compose-spec loader (the one
// Docker Compose uses: schema validation, interpolation, merge keys) and
// hold it against the code. A real `docker compose up` cannot run here (no
// Docker engine); TestComposeEnvironmentRunsTheSystem runs the same
// binary with the same environment instead.

const composeFile = "docker-compose.yaml"

// The override files, each used as `docker compose -f docker-compose.yaml
// -f FILE …`: two replicas per role behind nginx, and object storage.
const (
	replicasFile = "compose.replicas.yaml"
	s3File       = "compose.s3.yaml"
)

// composeFiles are every compose file of the repository.
var composeFiles = []string{composeFile, replicasFile, s3File}

// loadCompose loads the compose file with exactly env as the environment
// (never the developer's shell or .env), with profiles enabled.
func loadCompose(t testing.TB, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	return loadComposeFiles(t, []string{composeFile}, env, profiles...)
}

// loadComposeFiles loads files merged, as `docker compose -f … -f …` does.
func loadComposeFiles(t testing.TB, files []string, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory("."), cli.WithEnv(list), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p
}

func composeService(t testing.TB, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("%s has no service %q", composeFile, name)
	}
	return s
}

func envOf(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

var roles = []messages.Service{messages.Zeros, messages.Ones}

// The service names in docker-compose.yaml: each role, its database, Kafka.
func dbService(role messages.Service) string { return "postgres-" + string(role) }

func TestComposeHasTheServicesOfTheProduct(t *testing.T) {
	core := []string{"kafka", "kafka-topics", "ones", "postgres-ones", "postgres-zeros", "zeros"}
	p := loadCompose(t, nil)
	if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, core) {
		t.Errorf("services without profiles: %v, want %v", got, core)
	}
	mon := loadCompose(t, nil, "monitoring")
	if got := slices.Sorted(maps.Keys(mon.Services)); !slices.Equal(got, slices.Sorted(slices.Values(append(core, "grafana", "prometheus")))) {
		t.Errorf("services with the monitoring profile: %v", got)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		if s := composeService(t, mon, name); !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("%s profiles %v, want [monitoring]", name, s.Profiles)
		}
	}
	for name, s := range mon.Services {
		switch name {
		case "zeros", "ones", "kafka-topics":
			// Built from this repository, never pulled: one image for the three.
			if s.Build == nil || s.Build.Context != p.WorkingDir || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("%s: build %+v, want the repository's Dockerfile", name, s.Build)
			}
			if s.Image != composeService(t, p, "zeros").Image {
				t.Errorf("%s: image %q differs from zeros'", name, s.Image)
			}
			// Else the first `up` tries to pull baum:local, which no
			// registry has, before it builds.
			if s.PullPolicy != types.PullPolicyBuild {
				t.Errorf("%s: pull_policy %q, want build", name, s.PullPolicy)
			}
		default:
			if s.Build != nil {
				t.Errorf("%s builds an image; only BAUM's own services do", name)
			}
			checkPinned(t, name, s.Image)
		}
	}
	for name, want := range map[string]string{"kafka": "apache/kafka", "postgres-zeros": "postgres", "postgres-ones": "postgres",
		"prometheus": "prom/prometheus", "grafana": "grafana/grafana"} {
		if img := composeService(t, mon, name).Image; !strings.HasPrefix(img, want+":") {
			t.Errorf("%s runs %q, want the official %s image", name, img, want)
		}
	}
}

// checkPinned fails an image reference without an exact version tag.
func checkPinned(t *testing.T, where, image string) {
	t.Helper()
	i := strings.LastIndexByte(image, ':')
	if i < 0 || strings.Contains(image[i:], "/") {
		t.Errorf("%s: image %q has no tag", where, image)
		return
	}
	tag := image[i+1:]
	if tag == "latest" || !regexp.MustCompile(`^v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$`).MatchString(tag) {
		t.Errorf("%s: image %q is not pinned to a version (tag %q)", where, image, tag)
	}
}

func TestComposeServicesPublishTheProductPortsAndAreHealthChecked(t *testing.T) {
	p := loadCompose(t, nil, "monitoring")
	for _, role := range roles {
		s := composeService(t, p, string(role))
		want := strconv.Itoa(service.DefaultPort(role))
		if len(s.Ports) != 1 || s.Ports[0].Published != want || strconv.Itoa(int(s.Ports[0].Target)) != want {
			t.Errorf("%s ports %+v, want %s:%s", role, s.Ports, want, want)
		}
		// The service listens where the port is published to.
		if _, port, _ := net.SplitHostPort(envOf(s)["BAUM_HTTP_ADDR"]); port != want {
			t.Errorf("%s listens on %q, publishes %s", role, envOf(s)["BAUM_HTTP_ADDR"], want)
		}
		hc := s.HealthCheck
		if hc == nil || !slices.Equal(hc.Test, []string{"CMD", "baum", "health"}) {
			t.Fatalf("%s health check %+v, want [CMD baum health]", role, hc)
		}
		cfg := mustConfig(t, s)
		if hc.StartPeriod == nil || time.Duration(*hc.StartPeriod) < cfg.StartupTimeout {
			t.Errorf("%s: health start period %v is shorter than BAUM_STARTUP_TIMEOUT %s", role, hc.StartPeriod, cfg.StartupTimeout)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= cfg.ShutdownTimeout {
			t.Errorf("%s: stop_grace_period %v must exceed BAUM_SHUTDOWN_TIMEOUT %s, or Docker kills uploads in flight", role, s.StopGracePeriod, cfg.ShutdownTimeout)
		}
	}
	for name, s := range p.Services {
		if name == "kafka-topics" {
			continue // a one-shot job
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
			t.Errorf("%s has no health check", name)
		}
		if s.Restart != "unless-stopped" {
			t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
		}
	}
	if r := composeService(t, p, "kafka-topics").Restart; !strings.HasPrefix(r, "on-failure") {
		t.Errorf("kafka-topics restart %q: a job that succeeded must not run again", r)
	}
	// Grafana's image installs curl (grafana/grafana's Dockerfile: apk add …
	// curl on Alpine, apt-get install … curl on Ubuntu); /api/health is its
	// health endpoint. -f makes an error status fail the check.
	grafana := composeService(t, p, "grafana")
	if test := strings.Join(grafana.HealthCheck.Test, " "); !strings.HasPrefix(test, "CMD curl -f") ||
		!strings.HasSuffix(test, "http://127.0.0.1:"+strconv.Itoa(int(grafana.Ports[0].Target))+"/api/health") {
		t.Errorf("grafana health check %q", test)
	}
	for _, name := range []string{"postgres-zeros", "postgres-ones"} {
		// Over TCP: the image's first-start server listens on the socket only.
		if test := strings.Join(composeService(t, p, name).HealthCheck.Test, " "); !strings.Contains(test, "pg_isready -h 127.0.0.1") {
			t.Errorf("%s health check %q must ask over TCP", name, test)
		}
	}
}

func TestComposeStartOrder(t *testing.T) {
	p := loadCompose(t, nil, "monitoring")
	want := map[string]map[string]string{
		"kafka-topics": {"kafka": types.ServiceConditionHealthy},
		"zeros": {"kafka": types.ServiceConditionHealthy, "postgres-zeros": types.ServiceConditionHealthy,
			"kafka-topics": types.ServiceConditionCompletedSuccessfully},
		"ones": {"kafka": types.ServiceConditionHealthy, "postgres-ones": types.ServiceConditionHealthy,
			"kafka-topics": types.ServiceConditionCompletedSuccessfully},
		"grafana": {"prometheus": types.ServiceConditionHealthy},
	}
	for name, deps := range want {
		got := map[string]string{}
		for dep, d := range composeService(t, p, name).DependsOn {
			got[dep] = d.Condition
		}
		if !maps.Equal(got, deps) {
			t.Errorf("%s depends on %v, want %v", name, got, deps)
		}
	}
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionHealthy && composeService(t, p, dep).HealthCheck == nil {
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
	}
}

func TestComposeVolumesKeepEachServicesDataApart(t *testing.T) {
	p := loadCompose(t, nil, "monitoring")
	owner := map[string]string{}
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeVolume {
				if !v.ReadOnly || !strings.HasPrefix(v.Source, p.WorkingDir+"/deploy/") {
					t.Errorf("%s mounts %s %s; only read-only configuration from deploy/ may be bound", name, v.Type, v.Source)
				}
				continue
			}
			if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("%s uses volume %q, which is not declared", name, v.Source)
			}
			if o, ok := owner[v.Source]; ok {
				t.Errorf("volume %s is shared by %s and %s", v.Source, o, name)
			}
			owner[v.Source] = name
		}
	}
	mount := func(name, target string) string {
		for _, v := range composeService(t, p, name).Volumes {
			if v.Target == target {
				return v.Source
			}
		}
		return ""
	}
	for _, role := range roles {
		s := composeService(t, p, string(role))
		if src := mount(string(role), mustConfig(t, s).DataDir); src != string(role)+"-data" {
			t.Errorf("%s: BAUM_DATA_DIR is not its own named volume (%q)", role, src)
		}
		if src := mount(dbService(role), "/var/lib/postgresql/data"); src != dbService(role)+"-data" {
			t.Errorf("%s keeps its data in %q, want volume %s-data", dbService(role), src, dbService(role))
		}
	}
	if src := mount("kafka", envOf(composeService(t, p, "kafka"))["KAFKA_LOG_DIRS"]); src != "kafka-data" {
		t.Errorf("Kafka's log dir is not on volume kafka-data (%q)", src)
	}
	if src := mount("prometheus", "/prometheus"); src != "prometheus-data" {
		t.Errorf("prometheus data on %q", src)
	}
	if src := mount("grafana", "/var/lib/grafana"); src != "grafana-data" {
		t.Errorf("grafana data on %q", src)
	}
	for v := range p.Volumes {
		if _, used := owner[v]; !used {
			t.Errorf("volume %s is declared but not used", v)
		}
	}
}

// mustConfig runs the binary's own validation on a service's environment.
func mustConfig(t testing.TB, s types.ServiceConfig) service.Config {
	t.Helper()
	env := envOf(s)
	c, err := service.LoadConfig(func(k string) string { return env[k] }, "")
	if err != nil {
		t.Fatalf("%s: the binary rejects its compose environment:\n%v", s.Name, err)
	}
	return c
}

// topologyVars are fixed by the compose topology; every other BAUM_*
// variable is passed through with the binary's own default.
var topologyVars = []string{"BAUM_ROLE", "BAUM_HTTP_ADDR", "BAUM_DATABASE_URL", "BAUM_CREATE_DATABASE", "BAUM_KAFKA_BROKERS", "BAUM_DATA_DIR",
	"BAUM_API_TOKENS_FILE", "BAUM_METRICS_ADDR"}

func TestComposeEnvironmentSetsEveryVariableTheServicesRead(t *testing.T) {
	example := readEnvExample(t)
	custom := map[string]string{"POSTGRES_USER": "store", "POSTGRES_PASSWORD": "p@ss/w:rd?#%", "BAUM_LOG_LEVEL": "debug",
		"BAUM_CHUNK_SIZE": "786432", "BAUM_CONSUMER_GROUP_PREFIX": "prod"}
	for _, c := range []struct {
		name string
		env  map[string]string
	}{{"no .env", nil}, {".env.example", example}, {"custom", custom}} {
		t.Run(c.name, func(t *testing.T) {
			p := loadCompose(t, c.env)
			kafkaEnv := envOf(composeService(t, p, "kafka"))
			for _, role := range roles {
				s := composeService(t, p, string(role))
				env := envOf(s)
				for _, v := range service.EnvVars() {
					value, ok := env[v.Name]
					// A variable whose default is empty (TLS files, SASL) is set
					// empty: the binary's default.
					if !ok || value == "" && v.Default(role) != "" {
						t.Errorf("%s: %s is not set", role, v.Name)
						continue
					}
					if slices.Contains(topologyVars, v.Name) {
						continue
					}
					want := v.Default(role)
					if o, ok := c.env[v.Name]; ok {
						want = o
					}
					if value != want {
						t.Errorf("%s: %s=%q, want %q (the binary's default or the .env value)", role, v.Name, value, want)
					}
				}
				cfg := mustConfig(t, s)
				if cfg.Role != role || !cfg.CreateDatabase {
					t.Errorf("%s: role %s, create database %v", role, cfg.Role, cfg.CreateDatabase)
				}

				// The database URL names this role's own PostgreSQL service,
				// its user and database; the password travels in PGPASSWORD.
				db := envOf(composeService(t, p, dbService(role)))
				u, err := url.Parse(cfg.DatabaseURL)
				if err != nil {
					t.Fatal(err)
				}
				if _, hasPassword := u.User.Password(); u.Host != dbService(role)+":5432" || u.User.Username() != db["POSTGRES_USER"] ||
					u.Path != "/"+db["POSTGRES_DB"] || hasPassword {
					t.Errorf("%s: BAUM_DATABASE_URL %q does not match %s %v", role, cfg.DatabaseURL, dbService(role), db)
				}
				if env["PGPASSWORD"] != db["POSTGRES_PASSWORD"] || db["POSTGRES_PASSWORD"] == "" {
					t.Errorf("%s: PGPASSWORD %q, database password %q", role, env["PGPASSWORD"], db["POSTGRES_PASSWORD"])
				}
				if want := c.env["POSTGRES_PASSWORD"]; want != "" && env["PGPASSWORD"] != want {
					t.Errorf("%s: PGPASSWORD %q, want %q from the environment", role, env["PGPASSWORD"], want)
				}

				// Kafka: the broker address the services use is the one Kafka advertises.
				if !slices.Equal(cfg.KafkaBrokers, []string{"kafka:9092"}) ||
					!strings.Contains(kafkaEnv["KAFKA_ADVERTISED_LISTENERS"], "PLAINTEXT://kafka:9092") {
					t.Errorf("%s: brokers %v; Kafka advertises %q", role, cfg.KafkaBrokers, kafkaEnv["KAFKA_ADVERTISED_LISTENERS"])
				}
			}
		})
	}
}

// pgx reads PGPASSWORD when the URL has no password, as libpq does: that is
// what lets compose keep the password out of BAUM_DATABASE_URL.
func TestDatabasePasswordFromPGPASSWORD(t *testing.T) {
	t.Setenv("PGPASSWORD", "p@ss/w:rd?#%")
	cc, err := pgx.ParseConfig("postgres://baum@postgres-zeros:5432/baum_zeros?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if cc.Password != "p@ss/w:rd?#%" {
		t.Errorf("password %q: PGPASSWORD was not used", cc.Password)
	}
}

func TestComposeKafkaIsKRaftWithTopicsThatFitOurChunks(t *testing.T) {
	p := loadCompose(t, nil)
	env := envOf(composeService(t, p, "kafka"))
	if roles := strings.Split(env["KAFKA_PROCESS_ROLES"], ","); !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES %q: the one node must be broker and controller (KRaft)", env["KAFKA_PROCESS_ROLES"])
	}
	if env["CLUSTER_ID"] == "" || env["KAFKA_CONTROLLER_QUORUM_VOTERS"] != "1@kafka:9093" || env["KAFKA_NODE_ID"] != "1" {
		t.Errorf("KRaft settings incomplete: %v", env)
	}
	// The apache/kafka 4.x image formats storage with a plain `kafka-storage
	// format --cluster-id … -c server.properties` (KafkaDockerWrapper), which
	// needs a static quorum: without controller.quorum.voters the storage
	// tool demands --standalone or --no-initial-controllers and the
	// container exits (KAFKA-21277). KAFKA-19489 only refuses voters
	// together with --standalone or --initial-controllers, which the image
	// does not pass. So the voters stay, and no dynamic-quorum setting.
	for _, k := range []string{"KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS", "STORAGE_FORMAT_ARGS"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s is set: the 4.1 image formats for a static quorum only", k)
		}
	}
	for k := range env {
		if strings.Contains(strings.ToUpper(k), "ZOOKEEPER") {
			t.Errorf("%s: no ZooKeeper in KRaft mode", k)
		}
	}
	for k, v := range env {
		if strings.HasSuffix(k, "_REPLICATION_FACTOR") && v != "1" {
			t.Errorf("%s=%s on a single node", k, v)
		}
	}
	// The largest record we produce fits the broker's limit.
	if n, _ := strconv.Atoi(env["KAFKA_MESSAGE_MAX_BYTES"]); n < kafka.MaxMessageBytes || messages.MaxChunkSize+64<<10 > n {
		t.Errorf("KAFKA_MESSAGE_MAX_BYTES=%s does not fit a %d-byte chunk with headers", env["KAFKA_MESSAGE_MAX_BYTES"], messages.MaxChunkSize)
	}
	// Auto-created topics get as many partitions as kafka-topics makes.
	cmd := composeService(t, p, "kafka-topics").Command
	if !slices.Contains(cmd, "--partitions="+env["KAFKA_NUM_PARTITIONS"]) || cmd[0] != "topics" {
		t.Errorf("kafka-topics runs %v; Kafka's default partitions %s", cmd, env["KAFKA_NUM_PARTITIONS"])
	}
	if n, _ := strconv.Atoi(env["KAFKA_NUM_PARTITIONS"]); n < 2 {
		t.Errorf("%d partitions leave nothing to scale out to", n)
	}
	if !slices.Contains(cmd, "--brokers=kafka:9092") {
		t.Errorf("kafka-topics does not talk to the compose Kafka: %v", cmd)
	}
}

// .env.example lists every variable the compose file reads, with a comment,
// and its values are the compose defaults: copying it to .env changes
// nothing until someone edits it.
func TestEnvExampleListsEveryComposeVariable(t *testing.T) {
	defaults := map[string]string{}
	for _, file := range composeFiles {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}`).FindAllStringSubmatch(string(raw), -1) {
			if d, ok := defaults[m[1]]; ok && d != m[3] {
				t.Errorf("%s has two defaults in the compose files: %q and %q (%s)", m[1], d, m[3], file)
			}
			if m[2] == "" {
				t.Errorf("%s: ${%s} has no default: compose must work without .env", file, m[1])
			}
			defaults[m[1]] = m[3]
		}
	}
	example := readEnvExample(t)
	for k, d := range defaults {
		v, ok := example[k]
		if !ok {
			t.Errorf(".env.example lacks %s (default %q)", k, d)
		} else if v != d {
			t.Errorf(".env.example sets %s=%q, the compose default is %q", k, v, d)
		}
	}
	for k := range example {
		if _, ok := defaults[k]; !ok {
			t.Errorf(".env.example sets %s, which no compose file reads", k)
		}
	}
}

// readEnvExample returns .env.example's assignments; each must follow a
// comment line.
func readEnvExample(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	prev := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			if !strings.HasPrefix(prev, "#") {
				t.Errorf(".env.example: %s has no comment above it", k)
			}
			out[k] = v
		}
		prev = line
	}
	return out
}

// The compose page's table of compose variables (docs/docker.md) lists
// exactly the non-BAUM_ variables .env.example sets, with the same defaults,
// and the page gives the compose commands; the README gives the first.
func TestDockerPageListsTheComposeVariables(t *testing.T) {
	page, err := os.ReadFile("docs/docker.md")
	if err != nil {
		t.Fatal(err)
	}
	start, end := "<!-- compose-vars:start -->\n", "<!-- compose-vars:end -->"
	i, j := strings.Index(string(page), start), strings.Index(string(page), end)
	if i < 0 || j < i {
		t.Fatal("docs/docker.md has no compose-vars markers")
	}
	listed := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_0-9]+)` \\| `([^`]*)` \\|").FindAllStringSubmatch(string(page)[i:j], -1) {
		listed[m[1]] = m[2]
	}
	want := map[string]string{}
	for k, v := range readEnvExample(t) {
		if !strings.HasPrefix(k, "BAUM_") {
			want[k] = v
		}
	}
	if !maps.Equal(listed, want) {
		t.Errorf("docs/docker.md lists %v;\n.env.example has %v", listed, want)
	}
	for _, cmd := range []string{"docker compose up --build", "docker compose --profile monitoring up --build", "down -v"} {
		if !strings.Contains(string(page), cmd) {
			t.Errorf("docs/docker.md lacks %q", cmd)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "docker compose up --build") {
		t.Error(`README lacks "docker compose up --build"`)
	}
}

// Every published port is bound to 127.0.0.1, so that nothing is reachable
// from the network (Docker's own firewall rules would bypass the host's);
// PUBLISH_ADDRESS opens all but Kafka's, whose host listener advertises
// 127.0.0.1 and works on this machine only.
func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		env       map[string]string
		want      string
		kafkaWant string
	}{{nil, "127.0.0.1", "127.0.0.1"}, {map[string]string{"PUBLISH_ADDRESS": "0.0.0.0"}, "0.0.0.0", "127.0.0.1"}} {
		p := loadCompose(t, c.env, "monitoring")
		published := 0
		for name, s := range p.Services {
			for _, port := range s.Ports {
				published++
				want := c.want
				if name == "kafka" {
					want = c.kafkaWant
				}
				if port.HostIP != want {
					t.Errorf("%v: %s publishes %s on host address %q, want %s", c.env, name, port.Published, port.HostIP, want)
				}
			}
		}
		if published != 5 {
			t.Errorf("%d published ports, want zeros, ones, Kafka, Prometheus and Grafana", published)
		}
	}
}

// loadComposeDotEnv loads the compose file with a .env file of this content,
// as `docker compose` reads one (its own dotenv syntax and interpolation).
func loadComposeDotEnv(t *testing.T, content string, files ...string) *types.Project {
	t.Helper()
	if len(files) == 0 {
		files = []string{composeFile}
	}
	file := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory("."), cli.WithEnv(nil), cli.WithEnvFiles(file), cli.WithDotEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %v with .env %q: %v", files, content, err)
	}
	return p
}

// .env.example and docs/docker.md say how to write a password with $ or #
// in .env. Written as they say, it reaches the database and the services
// whole; written without the quotes, compose's interpolation cuts it (which
// is why they say so).
func TestEnvFileQuotingOfPasswords(t *testing.T) {
	raw, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#\s*(POSTGRES_PASSWORD='([^']*)')$`).FindStringSubmatch(string(raw))
	if m == nil || !strings.Contains(m[2], "$") || !strings.Contains(m[2], " #") {
		t.Fatalf(".env.example shows no single-quoted POSTGRES_PASSWORD with $ and \" #\" in it: %q", m)
	}
	line, password := m[1], m[2]
	if page, err := os.ReadFile("docs/docker.md"); err != nil || !strings.Contains(string(page), line) {
		t.Errorf("docs/docker.md does not give the example %s (%v)", line, err)
	}
	p := loadComposeDotEnv(t, line+"\nGRAFANA_ADMIN_PASSWORD='"+password+"'\n")
	for _, name := range []string{"postgres-zeros", "zeros", "ones"} {
		env := envOf(composeService(t, p, name))
		if got := env["POSTGRES_PASSWORD"] + env["PGPASSWORD"]; got != password {
			t.Errorf("%s gets the password %q, .env has %q", name, got, password)
		}
	}
	if got := envOf(composeService(t, loadComposeDotEnv(t, "GRAFANA_ADMIN_PASSWORD='"+password+"'\n"), "zeros"))["PGPASSWORD"]; got != "baum" {
		t.Errorf("PGPASSWORD %q without POSTGRES_PASSWORD in .env", got)
	}
	unquoted := loadComposeDotEnv(t, "POSTGRES_PASSWORD="+password+"\n")
	if got := envOf(composeService(t, unquoted, "zeros"))["PGPASSWORD"]; got == password {
		t.Errorf("unquoted, the password %q arrives whole: then the advice to quote it is wrong", password)
	}
}
