package deploy_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/baum-store/baum/internal/testsystem"
)

// compose.s3.yaml over docker-compose.yaml (and compose.replicas.yaml):
// both roles on the Versity S3 gateway, its bucket made by a one-shot job.

// s3Vars are the BAUM_STORAGE_* variables compose.s3.yaml sets on every
// replica (BAUM_STORAGE_S3_PREFIX aside, which is per role).
var s3Vars = []string{"BAUM_STORAGE", "BAUM_STORAGE_S3_ENDPOINT", "BAUM_STORAGE_S3_BUCKET", "BAUM_STORAGE_S3_ACCESS_KEY",
	"BAUM_STORAGE_S3_SECRET_KEY", "BAUM_STORAGE_S3_REGION", "BAUM_STORAGE_S3_TLS"}

func TestComposeS3SwitchesEveryReplicaToTheGatewaysBucket(t *testing.T) {
	for _, c := range []struct {
		name  string
		files []string
		env   map[string]string
	}{
		{"alone", []string{composeFile, s3File}, nil},
		{"alone, .env.example", []string{composeFile, s3File}, readEnvExample(t)},
		{"with replicas", []string{composeFile, replicasFile, s3File}, map[string]string{"S3_SECRET_KEY": "s3cr3t", "S3_BUCKET": "files"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := loadComposeFiles(t, c.files, c.env, "monitoring")
			gw, job := composeService(t, p, "s3"), composeService(t, p, "s3-bucket")
			checkS3Services(t, p, gw, job)
			gwEnv, jobEnv := envOf(gw), envOf(job)
			_, gwPort, _ := net.SplitHostPort(gwEnv["VGW_PORT"])
			prefixes := map[string]string{}
			for _, role := range roles {
				for name, s := range replicasOf(p, role) {
					env := envOf(s)
					for k, want := range map[string]string{
						"BAUM_STORAGE":               "s3",
						"BAUM_STORAGE_S3_ENDPOINT":   "s3:" + gwPort,
						"BAUM_STORAGE_S3_BUCKET":     jobEnv["BUCKET"],
						"BAUM_STORAGE_S3_ACCESS_KEY": gwEnv["ROOT_ACCESS_KEY_ID"],
						"BAUM_STORAGE_S3_SECRET_KEY": gwEnv["ROOT_SECRET_ACCESS_KEY"],
						"BAUM_STORAGE_S3_REGION":     gwEnv["VGW_REGION"],
						// The gateway serves plain HTTP on the compose network.
						"BAUM_STORAGE_S3_TLS": "false",
						// The service's default: one prefix per role.
						"BAUM_STORAGE_S3_PREFIX": string(role) + "/",
					} {
						if env[k] != want || want == "" {
							t.Errorf("%s: %s=%q, want %q", name, k, env[k], want)
						}
					}
					prefixes[env["BAUM_STORAGE_S3_PREFIX"]] = name
					mustConfig(t, s)
					if d, ok := s.DependsOn["s3-bucket"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
						t.Errorf("%s starts before the bucket is made: %v", name, dependencies(s))
					}
				}
			}
			if len(prefixes) != len(roles) {
				t.Errorf("prefixes %v: each role needs its own", prefixes)
			}
			if want := c.env["S3_SECRET_KEY"]; want != "" && gwEnv["ROOT_SECRET_ACCESS_KEY"] != want {
				t.Errorf("the gateway's secret %q, .env has %q", gwEnv["ROOT_SECRET_ACCESS_KEY"], want)
			}
			checkMergedProject(t, p)
		})
	}
}

// checkS3Services checks the gateway and the bucket job against the
// versitygw image: its entrypoint reads VGW_BACKEND and VGW_BACKEND_ARG,
// the binary VGW_PORT, VGW_HEALTH and ROOT_ACCESS_KEY_ID /
// ROOT_SECRET_ACCESS_KEY, `versitygw admin` ADMIN_ENDPOINT_URL and
// ADMIN_ACCESS_KEY_ID / ADMIN_SECRET_ACCESS_KEY.
func checkS3Services(t *testing.T, p *types.Project, gw, job types.ServiceConfig) {
	t.Helper()
	if !strings.HasPrefix(gw.Image, "versity/versitygw:v") || job.Image != gw.Image {
		t.Errorf("s3 runs %q, s3-bucket %q: want one versitygw image", gw.Image, job.Image)
	}
	env, jobEnv := envOf(gw), envOf(job)
	if env["VGW_BACKEND"] != "posix" || mountAt(gw, env["VGW_BACKEND_ARG"]) != "s3-data" {
		t.Errorf("s3: backend %s on %q, want posix on the volume s3-data", env["VGW_BACKEND"], mountAt(gw, env["VGW_BACKEND_ARG"]))
	}
	_, port, _ := net.SplitHostPort(env["VGW_PORT"])
	hc := strings.Join(gw.HealthCheck.Test, " ")
	if env["VGW_HEALTH"] == "" || !strings.HasSuffix(hc, "http://127.0.0.1:"+port+env["VGW_HEALTH"]) {
		t.Errorf("s3 health check %q does not ask VGW_HEALTH %q on port %s", hc, env["VGW_HEALTH"], port)
	}
	if len(gw.Ports) > 0 {
		t.Errorf("s3 publishes %+v: the object store is for the services only", gw.Ports)
	}
	if jobEnv["ADMIN_ENDPOINT_URL"] != "http://s3:"+port || jobEnv["ADMIN_ACCESS_KEY_ID"] != env["ROOT_ACCESS_KEY_ID"] ||
		jobEnv["ADMIN_SECRET_ACCESS_KEY"] != env["ROOT_SECRET_ACCESS_KEY"] || env["ROOT_SECRET_ACCESS_KEY"] == "" {
		t.Errorf("s3-bucket %v does not reach the gateway as its account %v", jobEnv, env)
	}
	if d, ok := job.DependsOn["s3"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("s3-bucket depends on %v, want s3 healthy", dependencies(job))
	}
	if !strings.HasPrefix(job.Restart, "on-failure") || (job.HealthCheck != nil && !job.HealthCheck.Disable) {
		t.Errorf("s3-bucket: restart %q, health check %+v: a one-shot job", job.Restart, job.HealthCheck)
	}
	for name, s := range p.Services {
		if name != "s3" && mountAt(s, env["VGW_BACKEND_ARG"]) == "s3-data" {
			t.Errorf("%s mounts the gateway's volume", name)
		}
	}
}

// .env's S3_SECRET_KEY, single-quoted as .env.example says, reaches the
// gateway, the job and the services whole.
func TestComposeS3SecretFromDotEnv(t *testing.T) {
	const secret = "s3$ecret #1"
	p := loadComposeDotEnv(t, "S3_SECRET_KEY='"+secret+"'\n", composeFile, replicasFile, s3File)
	for name, key := range map[string]string{"s3": "ROOT_SECRET_ACCESS_KEY", "s3-bucket": "ADMIN_SECRET_ACCESS_KEY",
		"zeros": "BAUM_STORAGE_S3_SECRET_KEY", "ones-2": "BAUM_STORAGE_S3_SECRET_KEY"} {
		if got := envOf(composeService(t, p, name))[key]; got != secret {
			t.Errorf("%s: %s=%q, .env has %q", name, key, got, secret)
		}
	}
}

// TestComposeS3GatewayAndBucketJobRun is the s3 and s3-bucket services
// without Docker: the versitygw binary of the image's release (from PATH;
// .ci/run installs it) started as the image's entrypoint starts it from the
// compose environment, asked the compose health check's URL, then the
// job's own shell command run twice (a second start finds the bucket made)
// and once with a wrong secret, which must fail.
func TestComposeS3GatewayAndBucketJobRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs versitygw")
	}
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		t.Skip("versitygw is not installed (.ci/run installs it)")
	}
	p := loadComposeFiles(t, []string{composeFile, s3File}, nil)
	gw, job := composeService(t, p, "s3"), composeService(t, p, "s3-bucket")
	checkVersitygwRelease(t, bin, gw.Image)

	env := envOf(gw)
	addr := "127.0.0.1:" + freePort(t)
	data := t.TempDir()
	env["VGW_PORT"] = addr
	// The image's docker-entrypoint.sh: `versitygw $VGW_BACKEND $VGW_BACKEND_ARG`.
	var logs testsystem.SyncBuffer
	cmd := baumCommand(bin, []string{env["VGW_BACKEND"], data}, env, &logs)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("versitygw log:\n%s", logs.Tail(20))
		}
	})
	_, port, _ := net.SplitHostPort(addr)
	health := strings.Replace(gw.HealthCheck.Test[len(gw.HealthCheck.Test)-1], ":7070", ":"+port, 1)
	testsystem.Eventually(t, 30*time.Second, func() string {
		res, err := http.Get(health)
		if err != nil {
			return err.Error()
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return health + ": " + res.Status
		}
		return ""
	})

	script := job.Command[len(job.Command)-1] // after the entrypoint's sh -c
	jobEnv := envOf(job)
	jobEnv["ADMIN_ENDPOINT_URL"] = "http://" + addr
	jobEnv["PATH"] = filepath.Dir(bin) + ":/usr/bin:/bin"
	run := func(env map[string]string) (string, error) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, job.Entrypoint[0], append(job.Entrypoint[1:], script)...)
		for k, v := range env {
			c.Env = append(c.Env, k+"="+v)
		}
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		return out.String(), err
	}
	for i := range 2 {
		if out, err := run(jobEnv); err != nil || !strings.Contains(out, "bucket "+jobEnv["BUCKET"]+" ready") {
			t.Fatalf("s3-bucket run %d: %v\n%s", i+1, err, out)
		}
	}
	if fi, err := os.Stat(filepath.Join(data, jobEnv["BUCKET"])); err != nil || !fi.IsDir() {
		t.Errorf("the posix backend has no bucket directory: %v", err)
	}
	jobEnv["ADMIN_SECRET_ACCESS_KEY"] = "wrong"
	jobEnv["BUCKET"] = "other"
	if out, err := run(jobEnv); err == nil {
		t.Errorf("s3-bucket with a wrong secret succeeded:\n%s", out)
	}
}

// checkVersitygwRelease: the binary on PATH is the release the image tag
// names (go version -m: the module version it was installed at).
func checkVersitygwRelease(t *testing.T, bin, image string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	tag := image[strings.LastIndexByte(image, ':')+1:]
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/versity/versitygw" {
			if f[2] != tag {
				t.Errorf("versitygw on PATH is %s, the compose image %s: test the release compose runs", f[2], image)
			}
			return
		}
	}
	t.Errorf("%s is not versitygw built from its module:\n%s", bin, out)
}
