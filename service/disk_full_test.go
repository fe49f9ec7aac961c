package service_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// mountTiny mounts a tmpfs of size bytes at dir, or skips the test where
// mounting is not allowed (not root). The use-case tests in app/command
// cover the same failures with injected disk errors everywhere.
func mountTiny(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the disk-full use-case tests in app/command still run", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// zeros keeps its files on a disk far too small for one upload: the upload
// fails with 507 and the failure in JSON (from whichever service received
// it), neither service keeps a staged piece of it, both totals stay as they
// were, and the next upload that fits works.
func TestDiskFullAnswers507AndLeavesNothing(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "65536"},
		testsystem.WithPrepare(func(dir string) { mountTiny(t, filepath.Join(dir, "zeros"), 256<<10) }))
	r := rand.New(rand.NewPCG(5, 7))
	small := randomFile(r, 20_000)
	if res := sys.Upload(t, messages.Zeros, "small.bin", small, ""); res.Status != http.StatusCreated {
		t.Fatalf("a small upload: %d %s", res.Status, res.Body)
	}
	before := map[messages.Service]map[string]api.File{}
	for _, role := range messages.Services() {
		before[role] = listAll(t, sys, role)
	}

	for i, role := range messages.Services() {
		res := sys.Upload(t, role, fmt.Sprintf("huge-%d.bin", i), randomFile(r, 1<<20), "")
		body := jsonError(t, res, http.StatusInsufficientStorage)
		details, _ := body["details"].(map[string]any)
		failure, _ := details["failure"].(map[string]any)
		if failure["reason"] != messages.ReasonStorageFull || failure["service"] != string(messages.Zeros) {
			t.Errorf("upload to %s: the 507 does not say zeros ran out of space: %s", role, res.Body)
		}
	}

	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", time.Minute)
	for _, role := range messages.Services() {
		after := listAll(t, sys, role)
		if len(after) != len(before[role]) {
			t.Errorf("%s holds %d files, held %d before", role, len(after), len(before[role]))
		}
		staged, err := readDir(sys.StagingDir(role))
		if err != nil {
			t.Fatal(err)
		}
		if len(staged) != 0 {
			t.Errorf("%s still stages %v", role, staged)
		}
		var open int
		sys.Conn(t, role).QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE state NOT IN ('placed', 'failed')").Scan(&open)
		if open != 0 {
			t.Errorf("%s has %d uploads neither placed nor failed", role, open)
		}
	}

	// The space came back with the failed upload's staged piece.
	if res := sys.Upload(t, messages.Ones, "fits.bin", randomFile(r, 30_000), ""); res.Status != http.StatusCreated {
		t.Fatalf("an upload that fits, after the failure: %d %s", res.Status, res.Body)
	}
}
