package service_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("the connection died") }

// A service killed while it sends an upload leaves that upload's chunks
// staged in both services, and nobody to abort it: before, they stayed
// until the stalled-upload sweep (an hour by default). The service keeps a
// journal of the uploads it is sending; at its next start it aborts those
// an earlier run left in it, and both services drop them within seconds.
func TestAnUploadWhoseSenderDiedIsAbortedAtTheNextStart(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "4096", "BAUM_INSTANCE": "node-a"})
	id := uuid.Must(uuid.NewV7()).String()
	// Zeros was sending it, three chunks out, when it was killed: the chunks
	// are in Kafka, the upload in zeros' journal.
	journal := filepath.Join(sys.DataDir, string(messages.Zeros), "sending", "node-a", id)
	if err := os.WriteFile(journal, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := sys.Sender(t, 4096).Send(t.Context(), messages.File{UploadID: id, Name: "half.bin"},
		io.MultiReader(bytes.NewReader(make([]byte, 3*4096)), failingReader{}))
	if err == nil {
		t.Fatal("the half upload was sent whole")
	}
	testsystem.Eventually(t, 30*time.Second, func() string {
		for _, role := range messages.Services() {
			if staged(t, sys, role, id) == 0 {
				return fmt.Sprintf("%s has not staged the half upload yet", role)
			}
		}
		return ""
	})

	sys.Restart(t)
	start := time.Now()
	db := conns(t, sys)
	testsystem.Eventually(t, 15*time.Second, func() string {
		for _, role := range messages.Services() {
			var state, reason, detail string
			db[role].QueryRow(t.Context(), "SELECT state, failure_reason, failure_detail FROM uploads WHERE id = $1", id).Scan(&state, &reason, &detail)
			if state != "failed" || reason != messages.ReasonAborted {
				return fmt.Sprintf("%s: the half upload is %q (%q %q), want failed as aborted", role, state, reason, detail)
			}
			if n := staged(t, sys, role, id); n != 0 {
				return fmt.Sprintf("%s still stages %d bytes of it", role, n)
			}
		}
		if _, err := os.Stat(journal); !os.IsNotExist(err) {
			return "it is still in zeros' journal"
		}
		return ""
	})
	t.Logf("aborted and dropped everywhere %s after the restart", time.Since(start).Round(time.Millisecond))
}

// staged returns the bytes role stages of upload id (0 if none).
func staged(t *testing.T, sys *testsystem.System, role messages.Service, id string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(sys.StagingDir(role), id))
	if err != nil {
		return 0
	}
	return info.Size()
}
