package service_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/baum-store/baum/internal/s3test"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// objectExists reports whether role's file id is an object in bucket.
func objectExists(t *testing.T, server *s3test.Server, bucket string, role messages.Service, id string) bool {
	t.Helper()
	_, err := server.Client().StatObject(context.Background(), bucket, string(role)+"/"+id, minio.StatObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		t.Fatalf("stat %s/%s: %v", role, id, err)
	}
	return err == nil
}

// Both services on one bucket, each under its role's prefix: a file staged
// in memory (one chunk) and one staged on disk (several) are stored as
// objects, served whole and by Range, kept over a restart (its repair
// lists the bucket) and deleted.
func TestServicesOnS3StoreServeAndDeleteFiles(t *testing.T) {
	server := s3test.Start(t)
	bucket := server.Bucket(t)
	sys := testsystem.Start(t, server.Env(bucket))
	small := bytes.Repeat([]byte{0x01}, 1000)        // mostly zero bits: zeros keeps it
	large := bytes.Repeat([]byte{0xfe, 0xff}, 1<<20) // 2 MiB, mostly one bits: ones keeps it
	files := map[messages.Service][]byte{messages.Zeros: small, messages.Ones: large}
	ids := map[messages.Service]string{}
	for role, data := range files {
		f := uploadFile(t, sys, role, string(role)+".bin", data)
		if !slices.Equal(f.StoredIn, []messages.Service{role}) {
			t.Fatalf("%s's file stored in %v", role, f.StoredIn)
		}
		ids[role] = f.ID
		if !objectExists(t, server, bucket, role, f.ID) {
			t.Errorf("%s's file %s is no object under %s/", role, f.ID, role)
		}
		if staged, _ := os.ReadDir(sys.StagingDir(role)); len(staged) != 0 {
			t.Errorf("%s still stages %d files after the placement", role, len(staged))
		}
	}
	if _, err := os.Stat(filepath.Join(sys.DataDir, "zeros", "files")); !os.IsNotExist(err) {
		t.Errorf("a files/ directory with S3 storage: %v", err)
	}
	sys.Restart(t)
	for role, data := range files {
		checkRanges(t, sys, role, ids[role], data)
	}
	for role, id := range ids {
		if res := deleteFile(t, sys, role, id); res.Status != http.StatusNoContent {
			t.Fatalf("delete %s's file: %d %s", role, res.Status, res.Body)
		}
		testsystem.Eventually(t, 10*time.Second, func() string {
			if objectExists(t, server, bucket, role, id) {
				return fmt.Sprintf("%s's object %s is still there after the delete", role, id)
			}
			return ""
		})
		if res := sys.Get(t, role, "/data/"+id+"/content"); res.Status != http.StatusNotFound {
			t.Errorf("download of a deleted file: %d", res.Status)
		}
	}
}

// checkRanges downloads role's file id whole and by ranges: its first,
// middle and last bytes.
func checkRanges(t *testing.T, sys *testsystem.System, role messages.Service, id string, data []byte) {
	t.Helper()
	path := "/data/" + id + "/content"
	if res := sys.Get(t, role, path); res.Status != http.StatusOK || !bytes.Equal(res.Body, data) {
		t.Errorf("%s: whole download: %d, %d bytes of %d", role, res.Status, len(res.Body), len(data))
	}
	n := len(data)
	for _, r := range [][2]int{{0, 99}, {n/2 - 10, n/2 + 10}, {n - 100, n - 1}} {
		rng := fmt.Sprintf("bytes=%d-%d", r[0], r[1])
		res := call(t, sys, role, http.MethodGet, path, map[string]string{"Range": rng})
		want := fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], n)
		if res.Status != http.StatusPartialContent || res.Header.Get("Content-Range") != want || !bytes.Equal(res.Body, data[r[0]:r[1]+1]) {
			t.Errorf("%s: Range %s: %d %q, %d bytes", role, rng, res.Status, res.Header.Get("Content-Range"), len(res.Body))
		}
	}
}

// Readiness names the storage when the S3 server is gone.
func TestReadinessReportsAnS3Outage(t *testing.T) {
	server := s3test.Start(t)
	sys := testsystem.Start(t, server.Env(server.Bucket(t)))
	server.Stop()
	testsystem.Eventually(t, 20*time.Second, func() string {
		res := sys.Get(t, messages.Zeros, "/readyz")
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(string(res.Body), "bucket") {
			return fmt.Sprintf("readyz with the S3 server gone: %d %s", res.Status, res.Body)
		}
		return ""
	})
}

// A bucket that does not exist stops the start, saying so.
func TestAServiceDoesNotStartWithoutItsBucket(t *testing.T) {
	server := s3test.Start(t)
	env := server.Env("no-such-bucket")
	env["BAUM_STARTUP_TIMEOUT"] = "1s"
	_, err := testsystem.TryStart(t, env)
	if err == nil || !strings.Contains(err.Error(), "bucket no-such-bucket") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("start without the bucket: %v", err)
	}
}
