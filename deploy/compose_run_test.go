package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// TestComposeEnvironmentRunsTheSystem is `docker compose up` without
// Docker: the binary the Dockerfile builds, started with the command lines
// and environments docker-compose.yaml gives kafka-topics, zeros and ones,
// and checked with the compose health check command. Only what Docker
// provides is replaced: the host names (kafka, postgres-zeros, …) by local
// addresses, the volume by a temporary directory, the database user by the
// local one. The broker is a Kafka-protocol broker with auto-creation OFF,
// so the services find only the topics kafka-topics made.
//
// After uploads that go to zeros, to ones and to both, an aborted upload and
// a poisoned message, every query of the Grafana dashboard is checked
// against what the two services' /metrics really export. The .env gives an
// API token, which the uploads need; every request any part sends to Kafka
// must be one Apache Kafka 4 (compose's broker) accepts.
func TestComposeEnvironmentRunsTheSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const token = "compose-token-8c2e0f5a91d7b4"
	p := loadCompose(t, map[string]string{"BAUM_API_TOKENS": "compose:write:" + token})
	bin := buildBinary(t)
	stages := parseDockerfile(t, "Dockerfile")
	final := stages[len(stages)-1]
	imageCmd := final.all("CMD")[0].args // what a service without `command:` runs

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	requireKafka4Versions(t, cluster)
	broker := cluster.ListenAddrs()[0]
	pg, err := url.Parse(testsystem.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	prefix := "baumtest_" + randomID()
	t.Cleanup(func() { testsystem.DropDatabases(t, prefix) })

	// local turns a compose environment into one for this machine.
	local := func(s types.ServiceConfig) map[string]string {
		env := envOf(s)
		for k, v := range env {
			env[k] = strings.ReplaceAll(v, "kafka:9092", broker)
		}
		if dbURL, ok := env["BAUM_DATABASE_URL"]; ok {
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			u.Host, u.User = pg.Host, pg.User
			u.Path = "/" + prefix + "_" + strings.TrimPrefix(u.Path, "/baum_")
			env["BAUM_DATABASE_URL"] = u.String()
		}
		if dir, ok := env["BAUM_DATA_DIR"]; ok {
			env["BAUM_DATA_DIR"] = filepath.Join(t.TempDir(), filepath.Base(dir))
		}
		return env
	}

	// kafka-topics: its compose command, to completion.
	topics := composeService(t, p, "kafka-topics")
	var topicsOut bytes.Buffer
	args := slices.Clone(topics.Command)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "kafka:9092", broker)
	}
	if slices.Equal(args, topics.Command) {
		t.Fatalf("kafka-topics %v does not name the compose broker kafka:9092", args)
	}
	cmd := baumCommand(bin, args, local(topics), &topicsOut)
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-topics %v: %v\n%s", topics.Command, err, topicsOut.String())
	}
	for _, topic := range append(messages.Topics(), messages.TopicPoison) {
		if !strings.Contains(topicsOut.String(), "created "+topic+" (12 partitions)") {
			t.Errorf("kafka-topics did not create %s:\n%s", topic, topicsOut.String())
		}
	}

	// zeros and ones: the image's command with their compose environments.
	type running struct {
		cmd  *exec.Cmd
		env  map[string]string
		base string
		logs *testsystem.SyncBuffer
		// exited is closed when the process has ended, with err its Wait error.
		exited chan struct{}
		err    error
	}
	procs := map[messages.Service]*running{}
	for _, role := range roles {
		s := composeService(t, p, string(role))
		env := local(s)
		env["BAUM_HTTP_ADDR"] = "127.0.0.1:" + freePort(t)
		r := &running{env: env, base: "http://" + env["BAUM_HTTP_ADDR"], logs: &testsystem.SyncBuffer{}, exited: make(chan struct{})}
		args := slices.Clone(imageCmd)
		if len(s.Command) > 0 {
			args = s.Command
		}
		r.cmd = baumCommand(bin, args, env, r.logs)
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.err = r.cmd.Wait(); close(r.exited) }()
		procs[role] = r
		t.Cleanup(func() {
			r.cmd.Process.Kill() // if it still runs
			<-r.exited
			if t.Failed() {
				t.Logf("%s log:\n%s", role, r.logs.Tail(30))
			}
		})
	}

	// The compose health check, until it passes.
	for _, role := range roles {
		r := procs[role]
		hc := composeService(t, p, string(role)).HealthCheck.Test[1:] // after "CMD"
		testsystem.Eventually(t, 90*time.Second, func() string {
			select {
			case <-r.exited:
				t.Fatalf("%s exited: %v\n%s", role, r.err, r.logs.Tail(30))
			default:
			}
			var out bytes.Buffer
			if err := baumCommand(bin, hc[1:], r.env, &out).Run(); err != nil {
				return fmt.Sprintf("%s health check: %v %s", role, err, out.String())
			}
			return ""
		})
	}

	// Uploads that land in zeros only, ones only and both.
	for _, c := range []struct {
		to    messages.Service
		data  []byte
		where []messages.Service
	}{
		{messages.Zeros, make([]byte, 300<<10), []messages.Service{messages.Zeros}}, // two chunks of zero bytes
		{messages.Ones, bytes.Repeat([]byte{0xff}, 1000), []messages.Service{messages.Ones}},
		{messages.Zeros, bytes.Repeat([]byte{0x0f}, 1000), []messages.Service{messages.Ones, messages.Zeros}},
	} {
		body, ctype := testsystem.MultipartFile(t, "f.bin", c.data)
		req, _ := http.NewRequest(http.MethodPost, procs[c.to].base+"/data/upload", body)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		res := testsystem.Do(t, req)
		var v api.File
		if res.Status != http.StatusCreated {
			t.Fatalf("upload to %s: %d %s", c.to, res.Status, res.Body)
		}
		res.JSON(t, &v)
		if slices.Sort(v.StoredIn); !slices.Equal(v.StoredIn, c.where) {
			t.Errorf("stored in %v, want %v", v.StoredIn, c.where)
		}
	}

	// An upload whose body is cut off: the upload fails (aborted). Without
	// the token: 401, nothing read.
	body, ctype := testsystem.MultipartFile(t, "cut.bin", make([]byte, 1000))
	cut := body.Bytes()[:body.Len()-100]
	for authorization, want := range map[string]int{"": http.StatusUnauthorized, "Bearer " + token: http.StatusBadRequest} {
		req, _ := http.NewRequest(http.MethodPost, procs[messages.Zeros].base+"/data/upload", bytes.NewReader(cut))
		req.Header.Set("Content-Type", ctype)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		if res := testsystem.Do(t, req); res.Status != want {
			t.Errorf("cut-off upload, Authorization %q: %d %s, want %d", authorization, res.Status, res.Body, want)
		}
	}

	// A record no service can read: it ends in the poison topic.
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer([]string{broker}, sc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: messages.TopicDeleteFile, Value: sarama.StringEncoder("not a command")}); err != nil {
		t.Fatal(err)
	}
	producer.Close()

	// Wait until the failure and the poisoning show in the metrics, then
	// collect every series name and its labels from both services.
	var labels map[string][]string
	testsystem.Eventually(t, 60*time.Second, func() string {
		labels = map[string][]string{}
		for _, role := range roles {
			if err := scrapeLabels(procs[role].base+"/metrics", labels); err != nil {
				return err.Error()
			}
		}
		for _, want := range []string{"baum_upload_failures_total", "baum_poisoned_messages_total"} {
			if _, ok := labels[want]; !ok {
				return want + " not exported yet"
			}
		}
		return ""
	})
	checkDashboardAgainstMetrics(t, labels)

	// docker compose stop: SIGTERM, then SIGKILL after stop_grace_period.
	for _, role := range roles {
		r := procs[role]
		grace := time.Duration(*composeService(t, p, string(role)).StopGracePeriod)
		start := time.Now()
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
			if r.err != nil {
				t.Errorf("%s stopped with %v", role, r.err)
			}
			t.Logf("%s stopped in %s after SIGTERM (stop_grace_period %s)", role, time.Since(start).Round(time.Millisecond), grace)
		case <-time.After(grace):
			t.Errorf("%s still running %s after SIGTERM: Docker would kill it", role, grace)
		}
	}
}

// scrapeLabels adds each series name at url, with its label names, to labels.
func scrapeLabels(url string, labels map[string][]string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return fmt.Errorf("%s: %v", url, err)
	}
	add := func(name string, names ...string) {
		for _, n := range names {
			if !slices.Contains(labels[name], n) {
				labels[name] = append(labels[name], n)
			}
		}
		if _, ok := labels[name]; !ok {
			labels[name] = []string{}
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			switch {
			case m.Histogram != nil:
				add(name+"_bucket", append(names, "le")...)
				add(name+"_sum", names...)
				add(name+"_count", names...)
			case m.Summary != nil:
				add(name, append(names, "quantile")...)
				add(name+"_sum", names...)
				add(name+"_count", names...)
			default:
				add(name, names...)
			}
		}
	}
	return nil
}

// command runs the binary with exactly env (nothing from this process).
func baumCommand(bin string, args []string, env map[string]string, out io.Writer) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}

// buildBinary builds ./cmd/baum. The Dockerfile adds -trimpath, static
// linking and stripping, which change no behaviour; a plain build shares the
// build cache with TestConfigurationTableIsTrue's `go run`.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "baum")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/baum")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
