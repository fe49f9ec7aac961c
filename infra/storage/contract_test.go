package storage_test

import (
	"testing"

	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/internal/storagetest"
)

// The directory adapter keeps the storage port's contract.
func TestTheDirectoryKeepsTheStorageContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Adapter {
		d, err := storage.OpenWithConfig(storage.Config{Dir: t.TempDir(), Instance: "replica-1"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
