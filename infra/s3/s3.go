// Package s3 keeps a role's stored files as objects in an S3-compatible
// bucket, <prefix><id> each, through the MinIO Go client. Staged files stay
// on this replica's local disk (the directory adapter's staging): chunks
// arrive one at a time, and an object cannot be appended to.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/infra/storage"
)

// Config says where the bucket is and how to sign in.
type Config struct {
	// Endpoint is the server's host:port.
	Endpoint string
	Bucket   string
	// Prefix starts every object's name: the role's part of the bucket.
	Prefix    string
	AccessKey string
	SecretKey string
	Region    string
	// TLS: https to the endpoint (false: plain http, for a server on
	// the same host or network).
	TLS bool
}

// String shows the settings without the secret key, so that a logged or
// printed configuration does not give it away.
func (c Config) String() string {
	return fmt.Sprintf("{Endpoint:%s Bucket:%s Prefix:%s AccessKey:%s SecretKey:(%d bytes, not shown) Region:%s TLS:%t}",
		c.Endpoint, c.Bucket, c.Prefix, c.AccessKey, len(c.SecretKey), c.Region, c.TLS)
}

// Problem is a setting that cannot work: which (a field of Config) and why.
type Problem struct {
	Setting string
	Message string
}

// Problems lists each setting that cannot work.
func (c Config) Problems() []Problem {
	var out []Problem
	if host, port, err := net.SplitHostPort(c.Endpoint); err != nil || host == "" || port == "" {
		out = append(out, Problem{"Endpoint", "must be host:port (no scheme: TLS is a setting of its own)"})
	}
	if c.Bucket == "" {
		out = append(out, Problem{"Bucket", "must be set"})
	} else if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		out = append(out, Problem{"Bucket", err.Error()})
	}
	if strings.HasPrefix(c.Prefix, "/") {
		out = append(out, Problem{"Prefix", "must not start with /"})
	}
	if c.AccessKey == "" {
		out = append(out, Problem{"AccessKey", "must be set"})
	}
	if c.SecretKey == "" {
		out = append(out, Problem{"SecretKey", "must be set"})
	}
	if c.Region == "" {
		out = append(out, Problem{"Region", "must be set"})
	}
	return out
}

// Validate reports each setting that cannot work, naming it.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.Problems() {
		errs = append(errs, fmt.Errorf("%s: %s", p.Setting, p.Message))
	}
	return errors.Join(errs...)
}

// Store is the storage port on a bucket: stored files are objects, staged
// files are the local staging's.
type Store struct {
	staging *storage.Disk
	client  *minio.Client
	core    minio.Core
	bucket  string
	prefix  string
}

// maxRetries bounds the client's own retries of a failed request (its
// default is 10): the message router delivers a failed message again
// anyway, and readiness must see an outage within seconds.
const maxRetries = 3

// New returns the Store of config, staging on staging. It makes no
// request: Check does.
func New(config Config, staging *storage.Disk) (*Store, error) {
	if err := config.Validate(); err != nil {
		return nil, err
	}
	client, err := minio.New(config.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(config.AccessKey, config.SecretKey, ""),
		Secure:     config.TLS,
		Region:     config.Region,
		MaxRetries: maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %w", config.Endpoint, err)
	}
	return &Store{staging: staging, client: client, core: minio.Core{Client: client},
		bucket: config.Bucket, prefix: config.Prefix}, nil
}

// Check verifies that the local staging is writable and the bucket is
// there and answers.
func (s *Store) Check(ctx context.Context) error {
	if err := s.staging.Check(); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("bucket %s at %s: %w", s.bucket, s.client.EndpointURL().Host, err)
	}
	if !ok {
		return fmt.Errorf("bucket %s at %s does not exist", s.bucket, s.client.EndpointURL().Host)
	}
	return nil
}

// Syncs reports the local staging's fsync calls (S3 writes are durable
// when the server answers them).
func (s *Store) Syncs() int64 { return s.staging.Syncs() }

// OpenStaged implements command.Disk: staged on the local disk.
func (s *Store) OpenStaged(id string) (command.StagedFile, error) { return s.staging.OpenStaged(id) }

// RemoveStaged implements command.Disk.
func (s *Store) RemoveStaged(id string) error { return s.staging.RemoveStaged(id) }

// ListStaged implements command.Disk.
func (s *Store) ListStaged() ([]string, error) { return s.staging.ListStaged() }

// key is the object name of stored file id; ids are checked first, so that
// a name never comes from anything but a UUID.
func (s *Store) key(id string) (string, error) {
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return "", fmt.Errorf("%q is not a canonical UUID", id)
	}
	return s.prefix + id, nil
}

// classify marks what an S3 failure means for the use cases: no space is
// domain.ErrStorageFull; anything else the server or the network said may
// pass (an outage, a bucket or a key being fixed by an operator), so it is
// domain.ErrUnavailable and the message that met it is retried, never
// poisoned. The end of the caller's ctx is left as it is; a timeout of the
// client's own (it matches context.DeadlineExceeded too: a server that
// hangs) is an outage like any other.
func classify(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode == http.StatusInsufficientStorage ||
		resp.Code == "XMinioStorageFull" || resp.Code == "QuotaExceeded") {
		return fmt.Errorf("%w: %s: %w", domain.ErrStorageFull, what, err)
	}
	return fmt.Errorf("%w: %s: %w", domain.ErrUnavailable, what, err)
}

// objectMissing reports whether err (of a request for key) says the
// object is not there. A missing bucket is not that: it is an outage, and
// must not read as files gone. A HEAD's answer has no body, and the client
// calls any 404 of one NoSuchKey, so a 404 is confirmed by asking for the
// bucket. minio.ToErrorResponse matches only an unwrapped ErrorResponse:
// errors.As instead.
func (s *Store) objectMissing(ctx context.Context, key string, err error) (bool, error) {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.Code == minio.NoSuchBucket ||
		resp.Code != minio.NoSuchKey && resp.StatusCode != http.StatusNotFound {
		return false, classify(ctx, err, "stat "+key)
	}
	ok, berr := s.client.BucketExists(ctx, s.bucket)
	switch {
	case berr != nil:
		return false, classify(ctx, berr, "stat "+key)
	case !ok:
		return false, fmt.Errorf("%w: stat %s: bucket %s does not exist", domain.ErrUnavailable, key, s.bucket)
	}
	return true, nil
}

var (
	_ command.Disk      = (*Store)(nil)
	_ query.StoredFiles = (*Store)(nil)
)
