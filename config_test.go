package baum_test

import (
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum"
	"github.com/baum-store/baum/messages"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaultsPerRole(t *testing.T) {
	for role, port := range map[messages.Service]string{messages.Zeros: ":8000", messages.Ones: ":8080"} {
		c, err := baum.LoadConfig(env(map[string]string{"BAUM_ROLE": string(role)}), "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Role != role || c.HTTPAddr != port || !strings.HasSuffix(strings.Split(c.DatabaseURL, "?")[0], "/baum_"+string(role)) ||
			c.ChunkSize != messages.DefaultChunkSize || c.UploadWait != 30*time.Second || !c.SyncStaged {
			t.Errorf("%s defaults: %+v", role, c)
		}
	}
	c, err := baum.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros"}), "ones")
	if err != nil || c.Role != messages.Ones {
		t.Errorf("--role does not override BAUM_ROLE: %v %v", c.Role, err)
	}
}

func TestConfigReportsEveryBadValue(t *testing.T) {
	_, err := baum.LoadConfig(env(map[string]string{
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
	_, err = baum.LoadConfig(env(map[string]string{
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
	if _, err := baum.LoadConfig(env(nil), ""); err == nil || !strings.Contains(err.Error(), "BAUM_ROLE") {
		t.Errorf("missing role: %v", err)
	}
	if _, err := baum.LoadConfig(env(nil), "twos"); err == nil || !strings.Contains(err.Error(), "BAUM_ROLE") {
		t.Errorf("bad role: %v", err)
	}
}
