package service_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/baum-store/baum/infra/s3"
	"github.com/baum-store/baum/service"
)

func s3Env(extra map[string]string) map[string]string {
	m := map[string]string{"BAUM_ROLE": "ones", "BAUM_STORAGE": "s3", "BAUM_STORAGE_S3_ENDPOINT": "s3.internal:9000",
		"BAUM_STORAGE_S3_BUCKET": "baum-files", "BAUM_STORAGE_S3_ACCESS_KEY": "baum", "BAUM_STORAGE_S3_SECRET_KEY": "s3cr3t-key"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// The directory is the default; S3 takes its settings from
// BAUM_STORAGE_S3_*, each role under its own prefix by default.
func TestConfigOfStorage(t *testing.T) {
	c, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros"}), "")
	if err != nil || c.Storage != service.StorageDir {
		t.Errorf("default storage %q, %v; want dir", c.Storage, err)
	}
	c, err = service.LoadConfig(env(s3Env(nil)), "")
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Config{Endpoint: "s3.internal:9000", Bucket: "baum-files", Prefix: "ones/", AccessKey: "baum",
		SecretKey: "s3cr3t-key", Region: "us-east-1", TLS: true}
	if c.Storage != service.StorageS3 || c.S3 != want {
		t.Errorf("parsed %q %+v, want %+v", c.Storage, c.S3, want)
	}
	if printed := fmt.Sprintf("%+v", c); strings.Contains(printed, "s3cr3t") {
		t.Errorf("a printed Config shows the secret key: %s", printed)
	}
	c, err = service.LoadConfig(env(s3Env(map[string]string{"BAUM_STORAGE_S3_PREFIX": "baum/ones-",
		"BAUM_STORAGE_S3_REGION": "eu-central-1", "BAUM_STORAGE_S3_TLS": "false"})), "")
	if err != nil || c.S3.Prefix != "baum/ones-" || c.S3.Region != "eu-central-1" || c.S3.TLS {
		t.Errorf("parsed %+v, %v", c.S3, err)
	}
	// S3 settings are not asked for while the files are in a directory.
	if _, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros", "BAUM_STORAGE": "dir",
		"BAUM_STORAGE_S3_ENDPOINT": "nonsense"}), ""); err != nil {
		t.Errorf("dir storage with a bad S3 endpoint: %v", err)
	}
}

// Each missing or bad S3 setting is reported by its variable, the secret
// key never shown.
func TestConfigReportsEveryBadStorageSetting(t *testing.T) {
	if _, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros", "BAUM_STORAGE": "nfs"}), ""); err == nil ||
		!strings.Contains(err.Error(), `BAUM_STORAGE="nfs": must be dir or s3`) {
		t.Errorf("unknown storage: %v", err)
	}
	_, err := service.LoadConfig(env(map[string]string{"BAUM_ROLE": "zeros", "BAUM_STORAGE": "s3"}), "")
	for _, says := range []string{"BAUM_STORAGE_S3_ENDPOINT: must be host:port", "BAUM_STORAGE_S3_BUCKET: must be set",
		"BAUM_STORAGE_S3_ACCESS_KEY: must be set", "BAUM_STORAGE_S3_SECRET_KEY (or BAUM_STORAGE_S3_SECRET_KEY_FILE): must be set"} {
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("error does not say %q:\n%v", says, err)
		}
	}
	_, err = service.LoadConfig(env(s3Env(map[string]string{"BAUM_STORAGE_S3_ENDPOINT": "https://s3.example:443",
		"BAUM_STORAGE_S3_BUCKET": "Not_A_Bucket", "BAUM_STORAGE_S3_PREFIX": "/ones/"})), "")
	for _, says := range []string{"BAUM_STORAGE_S3_ENDPOINT: must be host:port", "BAUM_STORAGE_S3_BUCKET: Bucket name contains invalid characters",
		"BAUM_STORAGE_S3_PREFIX: must not start with /"} {
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("error does not say %q:\n%v", says, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error shows the secret key:\n%v", err)
	}
	_, err = service.LoadConfig(env(s3Env(map[string]string{"BAUM_STORAGE_S3_TLS": "sometimes"})), "")
	if err == nil || !strings.Contains(err.Error(), `BAUM_STORAGE_S3_TLS="sometimes"`) {
		t.Errorf("a bad TLS flag: %v", err)
	}
}

// The secret key may come from a file (a Docker secret), but not from both.
func TestConfigReadsTheSecretKeyFromAFile(t *testing.T) {
	file := t.TempDir() + "/s3-secret"
	if err := os.WriteFile(file, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := service.LoadConfig(env(s3Env(map[string]string{"BAUM_STORAGE_S3_SECRET_KEY": "", "BAUM_STORAGE_S3_SECRET_KEY_FILE": file})), "")
	if err != nil || c.S3.SecretKey != "from-the-file" {
		t.Errorf("secret key %q, %v; want the file's, without its newline", c.S3.SecretKey, err)
	}
	_, err = service.LoadConfig(env(s3Env(map[string]string{"BAUM_STORAGE_S3_SECRET_KEY_FILE": file})), "")
	if err == nil || !strings.Contains(err.Error(), "BAUM_STORAGE_S3_SECRET_KEY_FILE") || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both the key and its file: %v", err)
	}
	_, err = service.LoadConfig(env(s3Env(map[string]string{"BAUM_STORAGE_S3_SECRET_KEY": "", "BAUM_STORAGE_S3_SECRET_KEY_FILE": "/nonexistent/secret"})), "")
	if err == nil || !strings.Contains(err.Error(), `BAUM_STORAGE_S3_SECRET_KEY_FILE="/nonexistent/secret"`) {
		t.Errorf("a missing key file: %v", err)
	}
}
