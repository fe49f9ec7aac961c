package s3_test

import (
	"testing"

	"github.com/baum-store/baum/infra/s3"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/internal/s3test"
	"github.com/baum-store/baum/internal/storagetest"
)

// The bucket adapter keeps the storage port's contract, against a real S3
// server; each subtest has a bucket of its own.
func TestTheBucketKeepsTheStorageContract(t *testing.T) {
	server := s3test.Start(t)
	storagetest.Run(t, func(t *testing.T) storagetest.Adapter {
		return open(t, server.Config(server.Bucket(t), "zeros/"))
	})
}

func open(t *testing.T, c s3.Config) *s3.Store {
	t.Helper()
	staging, err := storage.OpenWithConfig(storage.Config{Dir: t.TempDir(), Instance: "replica-1", StagingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	store, err := s3.New(c, staging)
	if err != nil {
		t.Fatal(err)
	}
	return store
}
