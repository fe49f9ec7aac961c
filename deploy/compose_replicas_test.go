package deploy_test

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/baum-store/baum/messages"
)

// compose.replicas.yaml over docker-compose.yaml: two replicas per role,
// nginx in front (deploy/nginx/nginx.conf). These tests load the merged
// files, with and without compose.s3.yaml and the monitoring profile.

const nginxConf = "deploy/nginx/nginx.conf"

// maxUploadWait is the longest ?wait= an upload may ask for (the default
// of handlers/http Config.MaxUploadWait, which the service keeps).
const maxUploadWait = 10 * time.Minute

// replicasCases are the environments and file sets the replica checks run on.
func replicasCases(t testing.TB) []struct {
	name  string
	files []string
	env   map[string]string
} {
	replicas := []string{composeFile, replicasFile}
	return []struct {
		name  string
		files []string
		env   map[string]string
	}{
		{"no .env", replicas, nil},
		{".env.example", replicas, readEnvExample(t)},
		// One BAUM_INSTANCE in .env must not give two replicas one name.
		{"BAUM_INSTANCE in .env", replicas, map[string]string{"BAUM_INSTANCE": "zeros-2", "ZEROS_PORT": "9000", "ONES_PORT": "9080"}},
		{"with S3", []string{composeFile, replicasFile, s3File}, nil},
		{"S3 first", []string{composeFile, s3File, replicasFile}, nil},
	}
}

// replicasOf returns the services that run role, by name.
func replicasOf(p *types.Project, role messages.Service) map[string]types.ServiceConfig {
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if envOf(s)["BAUM_ROLE"] == string(role) {
			out[name] = s
		}
	}
	return out
}

// instanceOf is the name a service's process takes in its consumer groups:
// BAUM_INSTANCE, or else the container's host name.
func instanceOf(s types.ServiceConfig) string {
	if v := envOf(s)["BAUM_INSTANCE"]; v != "" {
		return v
	}
	return s.Hostname
}

func TestComposeReplicasShareTheirRolesDataAndAreNamedApart(t *testing.T) {
	for _, c := range replicasCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p := loadComposeFiles(t, c.files, c.env, "monitoring")
			instances := map[string]string{}
			for _, role := range roles {
				reps := replicasOf(p, role)
				if got := slices.Sorted(maps.Keys(reps)); !slices.Equal(got, []string{string(role), string(role) + "-2"}) {
					t.Fatalf("%s runs in %v, want %s and %s-2", role, got, role, role)
				}
				first := reps[string(role)]
				for name, s := range reps {
					inst := instanceOf(s)
					if inst == "" || instances[inst] != "" {
						t.Errorf("%s: BAUM_INSTANCE %q, already %s's (it names the group member and the staging dir)", name, inst, instances[inst])
					}
					instances[inst] = name
					if s.Hostname != name {
						t.Errorf("%s: host name %q, want its service name", name, s.Hostname)
					}
					cfg, env := mustConfig(t, s), envOf(s)
					if env["BAUM_DATABASE_URL"] != envOf(first)["BAUM_DATABASE_URL"] || env["PGPASSWORD"] != envOf(first)["PGPASSWORD"] {
						t.Errorf("%s: database %q, %s's is %q", name, env["BAUM_DATABASE_URL"], role, envOf(first)["BAUM_DATABASE_URL"])
					}
					if src, want := mountAt(s, cfg.DataDir), string(role)+"-data"; src != want {
						t.Errorf("%s: BAUM_DATA_DIR %s is on %q, want the role's volume %s", name, cfg.DataDir, src, want)
					}
					// Every BAUM_* setting but the instance is the role's.
					for k, v := range envOf(first) {
						if k != "BAUM_INSTANCE" && env[k] != v {
							t.Errorf("%s: %s=%q, %s has %q", name, k, env[k], role, v)
						}
					}
					if s.Image != first.Image || s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, []string{"CMD", "baum", "health"}) {
						t.Errorf("%s: image %q, health check %+v", name, s.Image, s.HealthCheck)
					}
					if len(s.Ports) > 0 {
						t.Errorf("%s publishes %+v: only nginx publishes the roles' ports", name, s.Ports)
					}
					if !maps.Equal(dependencies(s), dependencies(first)) || s.StopGracePeriod == nil || *s.StopGracePeriod != *first.StopGracePeriod {
						t.Errorf("%s: depends on %v, stop grace %v; %s: %v", name, dependencies(s), s.StopGracePeriod, role, dependencies(first))
					}
				}
			}
			checkMergedProject(t, p)
		})
	}
}

// mountAt is the source of the volume s mounts at target.
func mountAt(s types.ServiceConfig, target string) string {
	for _, v := range s.Volumes {
		if v.Target == target {
			return v.Source
		}
	}
	return ""
}

func dependencies(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for dep, d := range s.DependsOn {
		out[dep] = d.Condition
	}
	return out
}

// checkMergedProject holds what docker-compose.yaml's own tests check of
// it against a merged project: every port on PUBLISH_ADDRESS (127.0.0.1
// unless set; Kafka's always), every health dependency health-checked,
// every volume declared and every image pinned.
func checkMergedProject(t *testing.T, p *types.Project) {
	t.Helper()
	want := p.Environment["PUBLISH_ADDRESS"]
	if want == "" {
		want = "127.0.0.1"
	}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != want && !(name == "kafka" && port.HostIP == "127.0.0.1") {
				t.Errorf("%s publishes %s on %q, want %s", name, port.Published, port.HostIP, want)
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is not in the project", name, dep)
			} else if d.Condition == types.ServiceConditionHealthy && (target.HealthCheck == nil || target.HealthCheck.Disable) {
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
		for _, v := range s.Volumes {
			if _, ok := p.Volumes[v.Source]; v.Type == types.VolumeTypeVolume && !ok {
				t.Errorf("%s uses volume %q, which is not declared", name, v.Source)
			}
			if v.Type == types.VolumeTypeBind && (!v.ReadOnly || !strings.HasPrefix(v.Source, p.WorkingDir+"/deploy/")) {
				t.Errorf("%s binds %s; only read-only configuration from deploy/ may be bound", name, v.Source)
			}
		}
		if s.Build == nil {
			checkPinned(t, name, s.Image)
		}
		if s.Restart != "unless-stopped" && !strings.HasPrefix(s.Restart, "on-failure") {
			t.Errorf("%s: restart %q", name, s.Restart)
		}
	}
}

func TestComposeReplicasNginxPublishesEachRoleAndWaitsForItsReplicas(t *testing.T) {
	for _, c := range replicasCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p := loadComposeFiles(t, c.files, c.env)
			nginx := composeService(t, p, "nginx")
			if !strings.HasPrefix(nginx.Image, "nginx:") || !strings.HasSuffix(nginx.Image, "-alpine") {
				t.Errorf("nginx runs %q, want the official nginx image (Alpine: busybox wget for the health check)", nginx.Image)
			}
			if m := bindAt(nginx, "/etc/nginx/nginx.conf"); m == nil || !m.ReadOnly || m.Source != p.WorkingDir+"/"+nginxConf {
				t.Errorf("nginx does not mount %s read-only as /etc/nginx/nginx.conf: %+v", nginxConf, m)
			}
			var probes []string
			for _, role := range roles {
				published := c.env["ZEROS_PORT"]
				if role == messages.Ones {
					published = c.env["ONES_PORT"]
				}
				target := strconv.Itoa(servicePort(t, composeService(t, p, string(role))))
				if published == "" {
					published = target // the README's ports: 8000, 8080
				}
				if !publishes(nginx, published, target) {
					t.Errorf("nginx does not publish %s's port %s (to %s): %+v", role, published, target, nginx.Ports)
				}
				probes = append(probes, "http://127.0.0.1:"+target+"/readyz")
				for name := range replicasOf(p, role) {
					if d, ok := nginx.DependsOn[name]; !ok || d.Condition != types.ServiceConditionHealthy {
						t.Errorf("nginx does not wait for %s to be healthy", name)
					}
				}
			}
			if len(nginx.Ports) != len(roles) {
				t.Errorf("nginx publishes %+v, want one port per role", nginx.Ports)
			}
			hc := strings.Join(nginx.HealthCheck.Test, " ")
			for _, probe := range probes {
				if !strings.Contains(hc, "wget -q --spider "+probe) {
					t.Errorf("nginx health check %q does not ask %s", hc, probe)
				}
			}
			if g := composeService(t, p, "zeros").StopGracePeriod; nginx.StopGracePeriod == nil || *nginx.StopGracePeriod < *g {
				t.Errorf("nginx stop_grace_period %v is shorter than the replicas' %v", nginx.StopGracePeriod, g)
			}
		})
	}
}

func bindAt(s types.ServiceConfig, target string) *types.ServiceVolumeConfig {
	for _, v := range s.Volumes {
		if v.Target == target && v.Type == types.VolumeTypeBind {
			return &v
		}
	}
	return nil
}

func publishes(s types.ServiceConfig, published, target string) bool {
	for _, p := range s.Ports {
		if p.Published == published && strconv.Itoa(int(p.Target)) == target {
			return true
		}
	}
	return false
}

// servicePort is the port of a BAUM service's BAUM_HTTP_ADDR.
func servicePort(t testing.TB, s types.ServiceConfig) int {
	t.Helper()
	_, port, err := net.SplitHostPort(envOf(s)["BAUM_HTTP_ADDR"])
	n, _ := strconv.Atoi(port)
	if err != nil || n == 0 {
		t.Fatalf("%s: BAUM_HTTP_ADDR %q", s.Name, envOf(s)["BAUM_HTTP_ADDR"])
	}
	return n
}

// deploy/nginx/nginx.conf against the merged compose project: one server
// per role on the port nginx publishes for it, proxying to an upstream of
// exactly that role's replica services on their BAUM_HTTP_ADDR ports; and
// streaming both ways with no size limit and timeouts BAUM's outlast.
func TestComposeReplicasNginxConfMatchesTheServices(t *testing.T) {
	p := loadComposeFiles(t, []string{composeFile, replicasFile}, nil)
	conf := loadNginxConf(t, nginxConf)
	https := nginxAll(conf, "http")
	if len(https) != 1 {
		t.Fatalf("%s has %d http blocks", nginxConf, len(https))
	}
	http := https[0].block
	upstreams := map[string][]string{}
	for _, u := range nginxAll(http, "upstream") {
		resolve := false
		for _, srv := range nginxAll(u.block, "server") {
			upstreams[u.args[0]] = append(upstreams[u.args[0]], srv.args[0])
			resolve = resolve || slices.Contains(srv.args, "resolve")
		}
		// nginx refuses "resolve" without a shared-memory zone and a resolver.
		if resolve && (len(nginxAll(u.block, "zone")) != 1 || len(nginxAll(http, "resolver")) != 1) {
			t.Errorf("upstream %s resolves its servers at run time without a zone or a resolver", u.args[0])
		}
	}
	if r := nginxAll(http, "resolver"); len(r) == 1 && r[0].args[0] != "127.0.0.11" {
		t.Errorf("resolver %v, want Docker's DNS 127.0.0.11", r[0].args)
	}
	listens := map[string]string{} // port → upstream
	for _, srv := range nginxAll(http, "server") {
		locs := nginxAll(srv.block, "location")
		if len(nginxAll(srv.block, "listen")) != 1 || len(locs) != 1 || locs[0].args[0] != "/" {
			t.Errorf("server %+v: want one listen and one location /", srv)
			continue
		}
		pass := strings.TrimPrefix(nginxValue(t, locs[0].block, "proxy_pass"), "http://")
		listens[nginxAll(srv.block, "listen")[0].args[0]] = pass
	}
	nginx := composeService(t, p, "nginx")
	for _, role := range roles {
		var want []string
		for name, s := range replicasOf(p, role) {
			want = append(want, name+":"+strconv.Itoa(servicePort(t, s)))
		}
		slices.Sort(want)
		port := strconv.Itoa(servicePort(t, composeService(t, p, string(role))))
		up, ok := listens[port]
		if !ok || !publishes(nginx, port, port) {
			t.Errorf("%s: nginx listens on %v, publishes %+v; want %s", role, slices.Collect(maps.Keys(listens)), nginx.Ports, port)
			continue
		}
		if got := slices.Sorted(slices.Values(upstreams[up])); !slices.Equal(got, want) {
			t.Errorf("%s: upstream %s is %v, want the replica services %v", role, up, got, want)
		}
	}
	if len(listens) != len(roles) || len(upstreams) != len(roles) {
		t.Errorf("servers %v, upstreams %v: want one of each per role", listens, upstreams)
	}
	checkNginxStreams(t, http, mustConfig(t, composeService(t, p, "zeros")).HTTPIdleReadTimeout,
		mustConfig(t, composeService(t, p, "zeros")).UploadWait)
}

// checkNginxStreams: uploads of any size streamed to the replica, downloads
// streamed to the client, headers passed as they are, and every timeout
// longer than BAUM's, so that BAUM answers (408, 201/202) and not nginx.
func checkNginxStreams(t *testing.T, http []nginxDirective, idleRead, uploadWait time.Duration) {
	for name, want := range map[string]string{
		"client_max_body_size":    "0", // no limit (BAUM_MAX_UPLOAD_BYTES answers 413)
		"proxy_request_buffering": "off",
		"proxy_buffering":         "off",
		// Else a chunked upload is buffered whole despite the above.
		"proxy_http_version": "1.1",
	} {
		if got := nginxValue(t, http, name); got != want {
			t.Errorf("nginx: %s %q, want %s", name, got, want)
		}
	}
	if v := nginxValue(t, http, "proxy_pass_request_headers"); v != "" && v != "on" {
		t.Errorf("nginx: proxy_pass_request_headers %s drops Authorization and Range", v)
	}
	for _, h := range nginxAll(http, "proxy_set_header") {
		switch strings.ToLower(h.args[0]) {
		case "authorization", "range", "if-range", "x-correlation-id", "content-length", "content-type":
			t.Errorf("nginx: proxy_set_header %v changes what the client sent", h.args)
		}
	}
	for name, floor := range map[string]time.Duration{
		"client_body_timeout": idleRead,      // a stalled upload: BAUM's 408 first
		"proxy_send_timeout":  idleRead,      // the same stall, towards the replica
		"proxy_read_timeout":  maxUploadWait, // the answer comes after the wait
		"send_timeout":        time.Minute,   // a slow download
	} {
		if d := nginxDuration(t, name, nginxValue(t, http, name)); d <= floor {
			t.Errorf("nginx: %s %s, want more than %s", name, d, floor)
		}
	}
	if d := nginxDuration(t, "proxy_read_timeout", nginxValue(t, http, "proxy_read_timeout")); d <= uploadWait {
		t.Errorf("nginx: proxy_read_timeout %s is not longer than BAUM_UPLOAD_WAIT %s", d, uploadWait)
	}
}
