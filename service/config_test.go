package service_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaultsPerRole(t *testing.T) {
	for role, port := range map[messages.Service]string{messages.Zeros: ":8000", messages.Ones: ":8080"} {
		c, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": string(role)}), "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Role != role || c.HTTPAddr != port || !strings.HasSuffix(strings.Split(c.DatabaseURL, "?")[0], "/baum_"+string(role)) ||
			c.ChunkSize != messages.DefaultChunkSize || c.UploadWait != 30*time.Second || !c.SyncStaged {
			t.Errorf("%s defaults: %+v", role, c)
		}
	}
	c, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros"}), "ones")
	if err != nil || c.Role != messages.Ones {
		t.Errorf("--role does not override BAUM_ROLE: %v %v", c.Role, err)
	}
}

func TestConfigReportsEveryBadValue(t *testing.T) {
	_, err := service.LoadConfig(env(map[string]string{
		"BAUM_ROLE":               "zeros",
		"BAUM_CHUNK_SIZE":         "lots",
		"BAUM_UPLOAD_WAIT":        "soon",
		"BAUM_FSYNC":              "maybe",
		"BAUM_HTTP_ADDR":          "nowhere",
		"BAUM_DATABASE_MAX_CONNS": "0",
	}), "")
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, name := range []string{"BAUM_CHUNK_SIZE", "BAUM_UPLOAD_WAIT", "BAUM_FSYNC", "BAUM_HTTP_ADDR", "BAUM_DATABASE_MAX_CONNS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	_, err = service.LoadConfig(env(map[string]string{
		"BAUM_CHUNK_SIZE":           "999999999",
		"BAUM_STALLED_UPLOAD_AFTER": "1s",
		"BAUM_KAFKA_BROKERS":        "no-port",
		"BAUM_LOG_LEVEL":            "loud",
		"BAUM_DATABASE_URL":         "mysql://x",
	}), "ones")
	for _, name := range []string{"BAUM_CHUNK_SIZE", "BAUM_STALLED_UPLOAD_AFTER", "BAUM_KAFKA_BROKERS", "BAUM_LOG_LEVEL", "BAUM_DATABASE_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if _, err := service.LoadConfig(env(nil), ""); err == nil || !strings.Contains(err.Error(), "BAUM_ROLE") {
		t.Errorf("missing role: %v", err)
	}
	if _, err := service.LoadConfig(env(nil), "twos"); err == nil || !strings.Contains(err.Error(), "BAUM_ROLE") {
		t.Errorf("bad role: %v", err)
	}
}

func TestConfigOfConnectionSecurityAndHTTPLimits(t *testing.T) {
	c, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.KafkaTLS.Enable || c.KafkaSASL.Mechanism != "" || c.HTTPReadHeaderTimeout != 10*time.Second ||
		c.HTTPIdleReadTimeout != time.Minute || c.HTTPMaxHeaderBytes != 64<<10 {
		t.Errorf("defaults: %+v", c)
	}

	ca := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(ca, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = service.LoadConfig(env(map[string]string{"BAUM_ROLE": "ones",
		"BAUM_KAFKA_TLS": "true", "BAUM_KAFKA_TLS_CA_FILE": ca, "BAUM_KAFKA_TLS_INSECURE_SKIP_VERIFY": "false",
		"BAUM_KAFKA_SASL_MECHANISM": "scram-sha-512", "BAUM_KAFKA_SASL_USER": "baum", "BAUM_KAFKA_SASL_PASSWORD": "pw",
		"BAUM_HTTP_READ_HEADER_TIMEOUT": "2s", "BAUM_HTTP_IDLE_READ_TIMEOUT": "5s", "BAUM_HTTP_MAX_HEADER_BYTES": "16384"}), "")
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kafka()
	if !k.TLS.Enable || k.TLS.CAFile != ca || k.SASL != (kafka.SASLConfig{Mechanism: "SCRAM-SHA-512", User: "baum", Password: "pw"}) ||
		k.ClientID != "baum-ones" || c.HTTPReadHeaderTimeout != 2*time.Second || c.HTTPIdleReadTimeout != 5*time.Second || c.HTTPMaxHeaderBytes != 16384 {
		t.Errorf("parsed %+v", c)
	}

	_, err = service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros",
		"BAUM_KAFKA_TLS": "maybe", "BAUM_KAFKA_TLS_CERT_FILE": "/nonexistent/cert.pem",
		"BAUM_KAFKA_SASL_MECHANISM": "GSSAPI", "BAUM_HTTP_READ_HEADER_TIMEOUT": "soon",
		"BAUM_HTTP_MAX_HEADER_BYTES": "lots"}), "")
	for _, name := range []string{"BAUM_KAFKA_TLS=", "BAUM_HTTP_READ_HEADER_TIMEOUT", "BAUM_HTTP_MAX_HEADER_BYTES"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	_, err = service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros",
		"BAUM_KAFKA_TLS": "true", "BAUM_KAFKA_TLS_CERT_FILE": "/nonexistent/cert.pem",
		"BAUM_KAFKA_SASL_MECHANISM": "GSSAPI", "BAUM_KAFKA_SASL_USER": "u",
		"BAUM_HTTP_IDLE_READ_TIMEOUT": "0s", "BAUM_HTTP_MAX_HEADER_BYTES": "100"}), "")
	for _, says := range []string{"BAUM_KAFKA_TLS_CERT_FILE=\"/nonexistent/cert.pem\"", "key file", "BAUM_KAFKA_SASL_*", "GSSAPI",
		"BAUM_HTTP_IDLE_READ_TIMEOUT", "BAUM_HTTP_MAX_HEADER_BYTES=100"} {
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("error does not say %s:\n%v", says, err)
		}
	}
}

// Every consumer group member of a service is static (KIP-345), named after
// BAUM_INSTANCE (the host name by default) and its group, so that a restart
// takes the partitions back at once; a name Kafka refuses is reported.
func TestConfigNamesTheInstanceInItsConsumerGroups(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	c, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Instance != host || c.Kafka().InstanceID != host {
		t.Errorf("instance %q (Kafka %q), want the host name %q", c.Instance, c.Kafka().InstanceID, host)
	}
	c, err = service.LoadConfig(env(map[string]string{"BAUM_ROLE": "ones", "BAUM_INSTANCE": "node-2.b"}), "")
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kafka()
	a, b := k.GroupInstanceID("baum-ones.store-chunk"), k.GroupInstanceID("baum-ones.events")
	if a != "baum-ones.store-chunk.node-2.b" || b == a {
		t.Errorf("group instance ids %q and %q: want one per group, named after the group and the instance", a, b)
	}
	for _, bad := range []struct{ env map[string]string }{
		{map[string]string{"BAUM_INSTANCE": "two words"}},
		{map[string]string{"BAUM_INSTANCE": strings.Repeat("x", 200)}},
		{map[string]string{"BAUM_INSTANCE": "ok", "BAUM_KAFKA_VERSION": "2.2.0"}},
	} {
		bad.env["BAUM_ROLE"] = "zeros"
		if _, err := service.LoadConfig(env(bad.env), ""); err == nil || !strings.Contains(err.Error(), "BAUM_INSTANCE") {
			t.Errorf("%v: error %v does not name BAUM_INSTANCE", bad.env, err)
		}
	}
}

// Tokens are parsed at start, and a bad one is reported without showing it.
func TestConfigOfAPITokens(t *testing.T) {
	file := t.TempDir() + "/tokens"
	if err := os.WriteFile(file, []byte("# comment\nci:write:0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros",
		"BAUM_API_TOKENS": "write:aaaaaaaaaaaaaaaaaaaa, viewer:read:bbbbbbbbbbbbbbbbbbbb", "BAUM_API_TOKENS_FILE": file,
		"BAUM_METRICS_ADDR": ":9100"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.APITokens) != 2 || c.APITokens[1].Name != "viewer" || c.APITokens[1].Scope != "read" || !c.Authenticated() || c.MetricsAddr != ":9100" {
		t.Errorf("parsed %+v", c)
	}
	if printed := fmt.Sprintf("%+v", c); strings.Contains(printed, "aaaaaaaaaaaaaaaa") || strings.Contains(printed, "bbbbbbbbbbbbbbbb") {
		t.Errorf("a printed Config shows a token: %s", printed)
	}
	if c, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros"}), ""); err != nil || c.Authenticated() {
		t.Errorf("without tokens: authenticated %v, %v", c.Authenticated(), err)
	}

	_, err = service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros",
		"BAUM_API_TOKENS":   "write:tooshort-secret, admin:read:ok-but-" + strings.Repeat("x", 20) + ", x:y:z:w, root:write:secret-with-$ign-inside",
		"BAUM_METRICS_ADDR": "nowhere"}), "")
	if err == nil {
		t.Fatal("bad tokens accepted")
	}
	for _, says := range []string{"BAUM_API_TOKENS (value not shown)", "token token-1", "token 3", "token root", "BAUM_METRICS_ADDR"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error does not say %s:\n%v", says, err)
		}
	}
	for _, secret := range []string{"tooshort", "secret-with", "$ign"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows a token (%s):\n%v", secret, err)
		}
	}
	if err := os.WriteFile(file, []byte("ci:write:0123456789abcdef0123\nci:admin:0123456789abcdef9999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/nonexistent/tokens", file} {
		_, err = service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros", "BAUM_API_TOKENS_FILE": f}), "")
		if err == nil || !strings.Contains(err.Error(), "BAUM_API_TOKENS_FILE=\""+f+"\"") || strings.Contains(err.Error(), "abcdef") {
			t.Errorf("token file %s: %v", f, err)
		}
	}
}
