package service_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

const fileRoute = "/data/{id}"

func storedPath(sys *testsystem.System, role messages.Service, id string) string {
	return filepath.Join(sys.DataDir, string(role), "files", id[len(id)-2:], id)
}

func totals(t *testing.T, sys *testsystem.System, role messages.Service) (int64, int64) {
	t.Helper()
	var l api.FileList
	res := sys.Get(t, role, "/data?limit=1")
	res.JSON(t, &l)
	return l.TotalSize, l.Count
}

func deleteFile(t *testing.T, sys *testsystem.System, role messages.Service, id string) testsystem.Response {
	t.Helper()
	res := call(t, sys, role, http.MethodDelete, "/data/"+id, nil)
	conforms(t, http.MethodDelete, fileRoute, res)
	return res
}

func TestDeleteRemovesTheFileFromThisServiceOnlyAndTwiceIs404(t *testing.T) {
	sys := testsystem.Start(t, nil)
	keep := uploadFile(t, sys, messages.Zeros, "other.bin", make([]byte, 300)) // zeros only; stays
	tie := bytes.Repeat([]byte{0x0F}, 100)
	f := uploadFile(t, sys, messages.Zeros, "tie.bin", tie)
	if !slices.Equal(f.StoredIn, messages.Services()) {
		t.Fatalf("stored in %v", f.StoredIn)
	}
	zeroSize, zeroCount := totals(t, sys, messages.Zeros)
	oneSize, oneCount := totals(t, sys, messages.Ones)
	if zeroSize != 400 || zeroCount != 2 || oneSize != 100 || oneCount != 1 {
		t.Fatalf("totals before: zeros %d/%d, ones %d/%d", zeroSize, zeroCount, oneSize, oneCount)
	}
	before := scrape(t, sys, messages.Zeros)

	res := deleteFile(t, sys, messages.Zeros, f.ID)
	if res.Status != http.StatusNoContent || len(res.Body) != 0 {
		t.Fatalf("DELETE: %d %s", res.Status, res.Body)
	}
	// Gone from zeros at once: metadata, bytes, totals.
	for _, path := range []string{"/data/" + f.ID, "/data/" + f.ID + "/content"} {
		if res := sys.Get(t, messages.Zeros, path); res.Status != http.StatusNotFound {
			t.Errorf("GET %s on zeros after DELETE: %d", path, res.Status)
		}
	}
	if _, err := os.Stat(storedPath(sys, messages.Zeros, f.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("zeros still has the bytes: %v", err)
	}
	if size, count := totals(t, sys, messages.Zeros); size != 300 || count != 1 {
		t.Errorf("zeros totals after DELETE: %d/%d, want 300/1", size, count)
	}
	if held := listAll(t, sys, messages.Zeros); len(held) != 1 || held[keep.ID].ID != keep.ID {
		t.Errorf("zeros lists %v", held)
	}
	// ones keeps its copy.
	if res := sys.Get(t, messages.Ones, "/data/"+f.ID+"/content"); res.Status != http.StatusOK || !bytes.Equal(res.Body, tie) {
		t.Errorf("ones lost its copy: %d", res.Status)
	}
	// The FileDeleted event reaches both services' view of the upload.
	for _, role := range messages.Services() {
		testsystem.Eventually(t, 20*time.Second, func() string {
			var st api.Upload
			res := sys.Get(t, role, "/data/uploads/"+f.ID)
			res.JSON(t, &st)
			if st.State != "placed" || !slices.Equal(st.StoredIn, []messages.Service{messages.Ones}) {
				return fmt.Sprintf("%s sees %s", role, res.Body)
			}
			return ""
		})
	}
	// ones' own view of its file follows the delete elsewhere too: its
	// metadata and its listing say where the file is now.
	var held api.File
	sys.Get(t, messages.Ones, "/data/"+f.ID).JSON(t, &held)
	if listed := listAll(t, sys, messages.Ones)[f.ID]; !slices.Equal(held.StoredIn, []messages.Service{messages.Ones}) ||
		!slices.Equal(listed.StoredIn, []messages.Service{messages.Ones}) {
		t.Errorf("ones says the file is stored in %v (GET /data/{id}) and %v (GET /data), want [ones]", held.StoredIn, listed.StoredIn)
	}
	after := scrape(t, sys, messages.Zeros)
	if d := after.sum("baum_files_deleted_total") - before.sum("baum_files_deleted_total"); d != 1 {
		t.Errorf("baum_files_deleted_total rose by %v", d)
	}
	if d := after.sum("baum_deleted_bytes_total") - before.sum("baum_deleted_bytes_total"); d != 100 {
		t.Errorf("baum_deleted_bytes_total rose by %v", d)
	}

	// Again: 404, and nothing changes anywhere.
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 30*time.Second)
	res = deleteFile(t, sys, messages.Zeros, f.ID)
	var e api.Error
	res.JSON(t, &e)
	if res.Status != http.StatusNotFound || !strings.Contains(e.Error, "no such file") {
		t.Errorf("second DELETE: %d %s", res.Status, res.Body)
	}
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 30*time.Second)
	if size, count := totals(t, sys, messages.Zeros); size != 300 || count != 1 {
		t.Errorf("zeros totals after the second DELETE: %d/%d", size, count)
	}
	if size, count := totals(t, sys, messages.Ones); size != 100 || count != 1 {
		t.Errorf("ones totals after the second DELETE: %d/%d", size, count)
	}
	if d := scrape(t, sys, messages.Zeros).sum("baum_files_deleted_total") - after.sum("baum_files_deleted_total"); d != 0 {
		t.Errorf("the second DELETE deleted %v more", d)
	}

	// The last copy goes too.
	if res := deleteFile(t, sys, messages.Ones, f.ID); res.Status != http.StatusNoContent {
		t.Fatalf("DELETE on ones: %d %s", res.Status, res.Body)
	}
	if size, count := totals(t, sys, messages.Ones); size != 0 || count != 0 {
		t.Errorf("ones totals: %d/%d", size, count)
	}

	// Bad requests.
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/data/not-an-id", http.StatusBadRequest},
		{"/data/01a21aec-2e12-7f30-a7b5-9c4a2553c6a1", http.StatusNotFound},
		{"/data/" + keep.ID + "?wait=soon", http.StatusBadRequest},
	} {
		res := call(t, sys, messages.Zeros, http.MethodDelete, c.path, nil)
		conforms(t, http.MethodDelete, fileRoute, res)
		if res.Status != c.status {
			t.Errorf("DELETE %s: %d, want %d", c.path, res.Status, c.status)
		}
	}
	if res := sys.Get(t, messages.Zeros, "/data/"+keep.ID); res.Status != http.StatusOK {
		t.Errorf("a bad DELETE removed a file: %d", res.Status)
	}

	// A delete that takes longer than the wait: 202, then it happens. (A
	// transaction of the test holds the file's row, so the command handler
	// waits for it.)
	tx, err := sys.Conn(t, messages.Zeros).Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM files WHERE id = $1 FOR UPDATE", keep.ID); err != nil {
		t.Fatal(err)
	}
	res = call(t, sys, messages.Zeros, http.MethodDelete, "/data/"+keep.ID+"?wait=1s", nil)
	conforms(t, http.MethodDelete, fileRoute, res)
	var accepted api.DeleteAccepted
	res.JSON(t, &accepted)
	if res.Status != http.StatusAccepted || accepted.ID != keep.ID || accepted.State != "deleting" ||
		accepted.FileURL != "/data/"+keep.ID || res.Header.Get("Location") != accepted.FileURL {
		t.Errorf("a slow DELETE: %d %v %s", res.Status, res.Header, res.Body)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	testsystem.Eventually(t, 20*time.Second, func() string {
		if res := sys.Get(t, messages.Zeros, "/data/"+keep.ID); res.Status != http.StatusNotFound {
			return fmt.Sprintf("GET after a slow DELETE: %d", res.Status)
		}
		return ""
	})
	if size, count := totals(t, sys, messages.Zeros); size != 0 || count != 0 {
		t.Errorf("zeros totals after the slow DELETE: %d/%d", size, count)
	}
}

// Other Go programs delete with the same command the HTTP API sends.
func TestDeleteFileCommandFromAGoProgram(t *testing.T) {
	sys := testsystem.Start(t, nil)
	f := uploadFile(t, sys, messages.Ones, "ones.bin", bytes.Repeat([]byte{0xFF}, 50))
	bus, _ := commandBus(t, sys)
	// Addressed to zeros, which does not hold it: nothing happens.
	if err := bus.Send(t.Context(), messages.DeleteFile{FileID: f.ID, Service: messages.Zeros}); err != nil {
		t.Fatal(err)
	}
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 30*time.Second)
	if res := sys.Get(t, messages.Ones, "/data/"+f.ID); res.Status != http.StatusOK {
		t.Fatalf("a DeleteFile for zeros removed ones' file: %d", res.Status)
	}
	if err := bus.Send(t.Context(), messages.DeleteFile{FileID: f.ID, Service: messages.Ones}); err != nil {
		t.Fatal(err)
	}
	testsystem.Eventually(t, 20*time.Second, func() string {
		if res := sys.Get(t, messages.Ones, "/data/"+f.ID); res.Status != http.StatusNotFound {
			return fmt.Sprintf("ones still answers %d", res.Status)
		}
		return ""
	})
	if size, count := totals(t, sys, messages.Ones); size != 0 || count != 0 {
		t.Errorf("ones totals: %d/%d", size, count)
	}
}

func TestDeleteAnswers503WhileKafkaOrTheDatabaseIsDown(t *testing.T) {
	sys := testsystem.Start(t, nil)
	data := make([]byte, 64)
	f := uploadFile(t, sys, messages.Zeros, "zeros.bin", data)

	t.Run("Kafka", func(t *testing.T) {
		// The broker refuses every produce request: the DeleteFile command
		// cannot reach Kafka.
		var down atomic.Bool
		down.Store(true)
		sys.Broker.Cluster().ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
			sys.Broker.Cluster().KeepControl()
			if down.Load() {
				return nil, errors.New("test: Kafka is down"), true
			}
			return nil, nil, false
		})
		defer down.Store(false)
		res := deleteFile(t, sys, messages.Zeros, f.ID)
		var e api.Error
		res.JSON(t, &e)
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(e.Error, "Kafka") {
			t.Fatalf("DELETE with Kafka down: %d %s", res.Status, res.Body)
		}
		if res := sys.Get(t, messages.Zeros, "/data/"+f.ID+"/content"); res.Status != http.StatusOK || !bytes.Equal(res.Body, data) {
			t.Fatalf("a failed DELETE removed the file: %d", res.Status)
		}
		down.Store(false)
		testsystem.Eventually(t, 30*time.Second, func() string {
			if res := sys.Get(t, messages.Zeros, "/readyz"); res.Status != http.StatusOK {
				return string(res.Body)
			}
			return ""
		})
	})

	t.Run("database", func(t *testing.T) {
		admin, err := pgx.Connect(t.Context(), strings.Replace(testsystem.PostgresURL(), "/?", "/postgres?", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(context.Background())
		db := pgx.Identifier{sys.DBPrefix + "_zeros"}.Sanitize()
		setConnections := func(allow bool) {
			if _, err := admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", db, allow)); err != nil {
				t.Fatal(err)
			}
		}
		setConnections(false)
		defer setConnections(true)
		if _, err := admin.Exec(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", sys.DBPrefix+"_zeros"); err != nil {
			t.Fatal(err)
		}
		res := deleteFile(t, sys, messages.Zeros, f.ID)
		if res.Status != http.StatusServiceUnavailable {
			t.Fatalf("DELETE with the database down: %d %s", res.Status, res.Body)
		}
		setConnections(true)
		if res := sys.Get(t, messages.Zeros, "/data/"+f.ID); res.Status != http.StatusOK {
			t.Fatalf("a failed DELETE removed the file: %d", res.Status)
		}
	})

	// Both back: the delete goes through.
	if res := deleteFile(t, sys, messages.Zeros, f.ID); res.Status != http.StatusNoContent {
		t.Fatalf("DELETE after the outages: %d %s", res.Status, res.Body)
	}
}
