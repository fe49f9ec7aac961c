package service_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

// A file of one chunk never touches the disk of the service that does not
// keep it, and the keeper writes it straight into storage: no staged file
// in either service, one flush of the stored file (and its directory).
func TestAFileOfOneChunkIsNotStagedOnDisk(t *testing.T) {
	sys := testsystem.Start(t, nil)
	syncs := func(role messages.Service) float64 {
		return scrape(t, sys, role)[`baum_storage_syncs_total{service="`+string(role)+`"}`]
	}
	beforeZ, beforeO := syncs(messages.Zeros), syncs(messages.Ones)
	data := bytes.Repeat([]byte{0x10, 0x00}, 4096) // mostly zero bits: zeros keeps it
	res := sys.Upload(t, messages.Ones, "one-chunk.bin", data, "")
	if res.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.Status, res.Body)
	}
	var f api.File
	res.JSON(t, &f)
	if len(f.StoredIn) != 1 || f.StoredIn[0] != messages.Zeros {
		t.Fatalf("stored in %v, want zeros", f.StoredIn)
	}
	if n := syncs(messages.Ones) - beforeO; n != 0 {
		t.Errorf("ones, which received the upload but does not keep it, flushed %v times", n)
	}
	if n := syncs(messages.Zeros) - beforeZ; n < 1 || n > 2 {
		t.Errorf("zeros flushed %v times to store one file; want its file and directory flushed once (2 calls, or 1 shared)", n)
	}
	for _, role := range messages.Services() {
		staged, err := os.ReadDir(sys.StagingDir(role))
		if err != nil {
			t.Fatal(err)
		}
		if len(staged) != 0 {
			t.Errorf("%s has %d staged files", role, len(staged))
		}
	}
	stored, err := os.ReadFile(filepath.Join(sys.DataDir, "zeros", "files", f.ID[len(f.ID)-2:], f.ID))
	if err != nil || !bytes.Equal(stored, data) {
		t.Errorf("zeros stored %d bytes (%v), want the file", len(stored), err)
	}
	if res := sys.Get(t, messages.Ones, "/data/"+f.ID); res.Status != http.StatusNotFound {
		t.Errorf("ones holds the file: %d", res.Status)
	}
}

// A staged file that no upload needs any more (another replica finished
// its upload after a rebalance) is removed while the service runs, not at
// its next start; one of an upload still receiving stays.
func TestTheRunningServiceRemovesStagedFilesNoUploadNeeds(t *testing.T) {
	sys := testsystem.Start(t, nil, testsystem.WithServiceOptions(messages.Zeros, service.WithStagedSweep(50*time.Millisecond)))
	f := uploadFile(t, sys, messages.Zeros, "done.bin", bytes.Repeat([]byte{0x10, 0x00}, 4096))
	leftover := filepath.Join(sys.StagingDir(messages.Zeros), f.ID)
	if err := os.WriteFile(leftover, []byte("left by another replica"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(sys.StagingDir(messages.Zeros), uuid.Must(uuid.NewV7()).String())
	if err := os.WriteFile(unknown, []byte("a first chunk committing now"), 0o600); err != nil {
		t.Fatal(err)
	}
	testsystem.Eventually(t, 10*time.Second, func() string {
		if _, err := os.Stat(leftover); err == nil {
			return "the staged file of a placed upload is still there"
		}
		return ""
	})
	if _, err := os.Stat(unknown); err != nil {
		t.Errorf("a staged file without a record was removed: %v", err)
	}
}
