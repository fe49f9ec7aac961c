package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/infra/s3"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/messages"
)

// The values of BAUM_STORAGE.
const (
	StorageDir = "dir"
	StorageS3  = "s3"
)

// storageVars configure where stored files are kept (staged ones are in
// BAUM_DATA_DIR either way: chunks arrive one by one, and an object cannot
// be appended to).
var storageVars = []envVar{
	{"BAUM_STORAGE", "Where stored files are kept: `dir` (BAUM_DATA_DIR's files/, which the replicas of a role may share as a volume) or `s3` (objects in a bucket, see BAUM_STORAGE_S3_*). Staged files are in BAUM_DATA_DIR either way.", fixed(StorageDir),
		func(c *Config, v string) error {
			if c.Storage = strings.ToLower(v); c.Storage != StorageDir && c.Storage != StorageS3 {
				return errors.New("must be dir or s3")
			}
			return nil
		}},
	{"BAUM_STORAGE_S3_ENDPOINT", "S3-compatible server, host:port (with BAUM_STORAGE=s3).", fixed(""),
		func(c *Config, v string) error { c.S3.Endpoint = v; return nil }},
	{"BAUM_STORAGE_S3_BUCKET", "Bucket of the stored files; it must exist (the service waits for it at start, like for its database). Both roles may share one under their own prefixes.", fixed(""),
		func(c *Config, v string) error { c.S3.Bucket = v; return nil }},
	{"BAUM_STORAGE_S3_PREFIX", "Start of each object's name (`<prefix><upload id>`): the role's part of the bucket. Roles must not share a prefix; a role's replicas must.",
		func(r messages.Service) string { return string(r) + "/" },
		func(c *Config, v string) error { c.S3.Prefix = v; return nil }},
	{"BAUM_STORAGE_S3_ACCESS_KEY", "Access key id for the bucket.", fixed(""),
		func(c *Config, v string) error { c.S3.AccessKey = v; return nil }},
	{"BAUM_STORAGE_S3_SECRET_KEY", "Secret access key (or BAUM_STORAGE_S3_SECRET_KEY_FILE).", fixed(""),
		func(c *Config, v string) error { c.S3.SecretKey = v; return nil }},
	{"BAUM_STORAGE_S3_SECRET_KEY_FILE", "File holding the secret access key (e.g. a Docker or Kubernetes secret; a final newline is ignored), instead of BAUM_STORAGE_S3_SECRET_KEY.", fixed(""),
		setSecretKeyFile},
	{"BAUM_STORAGE_S3_REGION", "Region of the bucket (servers other than AWS mostly accept any).", fixed("us-east-1"),
		func(c *Config, v string) error { c.S3.Region = v; return nil }},
	{"BAUM_STORAGE_S3_TLS", "Reach the S3 server over https (false: plain http, for a server on a private network).", fixed("true"),
		func(c *Config, v string) (err error) { c.S3.TLS, err = strconv.ParseBool(v); return }},
}

// setSecretKeyFile reads the secret key from its file at start: a key that
// cannot be read is reported with the other settings, not at the first
// upload. It comes after BAUM_STORAGE_S3_SECRET_KEY in storageVars.
func setSecretKeyFile(c *Config, v string) error {
	if c.S3SecretKeyFile = v; v == "" {
		return nil
	}
	if c.S3.SecretKey != "" {
		return errors.New("set this or BAUM_STORAGE_S3_SECRET_KEY, not both")
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return err
	}
	c.S3.SecretKey = strings.TrimRight(string(b), "\r\n")
	return nil
}

// s3Settings names the variable of each s3.Config setting.
var s3Settings = map[string]string{"Endpoint": "BAUM_STORAGE_S3_ENDPOINT", "Bucket": "BAUM_STORAGE_S3_BUCKET",
	"Prefix": "BAUM_STORAGE_S3_PREFIX", "AccessKey": "BAUM_STORAGE_S3_ACCESS_KEY",
	"SecretKey": "BAUM_STORAGE_S3_SECRET_KEY", "Region": "BAUM_STORAGE_S3_REGION"}

// validateStorage reports each S3 setting that cannot work, by its
// variable, when BAUM_STORAGE=s3.
func (c Config) validateStorage() error {
	if c.Storage != StorageS3 {
		return nil
	}
	var errs []error
	for _, p := range c.S3.Problems() {
		name := s3Settings[p.Setting]
		switch {
		case secretVars[name]:
			errs = append(errs, fmt.Errorf("%s (or %s_FILE): %s (with BAUM_STORAGE=s3)", name, name, p.Message))
		default:
			errs = append(errs, fmt.Errorf("%s: %s (with BAUM_STORAGE=s3)", name, p.Message))
		}
	}
	return errors.Join(errs...)
}

// storageAdapter is what a service keeps its files in, with what readiness
// and the metrics ask of it.
type storageAdapter interface {
	command.Disk
	query.StoredFiles
	Syncs() int64
	Check(ctx context.Context) error
}

// dirStorage is the directory adapter as a storageAdapter.
type dirStorage struct{ *storage.Disk }

func (d dirStorage) Check(context.Context) error { return d.Disk.Check() }

// openStorage opens the configured storage. A bucket is waited for like
// the database: it may be created after the service starts (compose).
func openStorage(ctx context.Context, c Config, log *slog.Logger) (storageAdapter, error) {
	disk, err := storage.OpenWithConfig(storage.Config{Dir: c.DataDir, Instance: c.Instance, StagingOnly: c.Storage == StorageS3,
		DirectWrites: c.SyncStaged})
	if err != nil {
		return nil, err
	}
	if c.Storage != StorageS3 {
		return dirStorage{disk}, nil
	}
	store, err := s3.New(c.S3, disk)
	if err != nil {
		return nil, err
	}
	if err := untilUp(ctx, log, "reach the S3 bucket", func() error { return store.Check(ctx) }); err != nil {
		return nil, err
	}
	return store, nil
}
