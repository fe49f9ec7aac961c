package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// A program of another team — its own process, built from the public
// packages only — sends files over Kafka to running services, which place
// them by the rule.
func TestAnotherProgramSendsFilesOverKafka(t *testing.T) {
	// It must not need anything of BAUM but the public contract.
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./examples/sendfiles").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/baum-store/baum") && pkg != "github.com/baum-store/baum/examples/sendfiles" &&
			pkg != "github.com/baum-store/baum/messages" && pkg != "github.com/baum-store/baum/messages/kafkaclient" {
			t.Errorf("examples/sendfiles imports %s: an outside program would need more than the public packages", pkg)
		}
	}
	bin := filepath.Join(t.TempDir(), "sendfiles")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/sendfiles").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	sys := testsystem.Start(t, nil)
	dir := t.TempDir()
	files := map[string][]byte{
		"zeros.bin": make([]byte, 300<<10), // two chunks
		"ones.bin":  bytes.Repeat([]byte{0xFE}, 5000),
		"tie.bin":   bytes.Repeat([]byte{0xA5}, 64),
		"empty.bin": {},
	}
	args := []string{"-brokers", strings.Join(sys.Broker.Addrs(), ","), "-wait", "60s"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, filepath.Join(dir, name))
	}
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sendfiles: %v\n%s%s", err, stdout.String(), stderr.String())
	}

	type result struct {
		File     string             `json:"file"`
		ID       string             `json:"id"`
		Size     int64              `json:"size"`
		SHA256   string             `json:"sha256"`
		ZeroBits uint64             `json:"zero_bits"`
		OneBits  uint64             `json:"one_bits"`
		StoredIn []messages.Service `json:"stored_in"`
	}
	dec := json.NewDecoder(&stdout)
	seen := 0
	for ; dec.More(); seen++ {
		var r result
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		data := files[filepath.Base(r.File)]
		o := ones(data)
		z := 8*uint64(len(data)) - o
		keepers := messages.Keepers(z, o)
		if r.Size != int64(len(data)) || r.SHA256 != sha(data) || r.ZeroBits != z || r.OneBits != o || !slices.Equal(r.StoredIn, keepers) {
			t.Errorf("%s: the program saw %+v; want stored in %v with %d zero and %d one bits", r.File, r, keepers, z, o)
		}
		// And the services say the same.
		for _, svc := range messages.Services() {
			res := sys.Get(t, svc, "/data/"+r.ID)
			if slices.Contains(keepers, svc) {
				var f api.File
				res.JSON(t, &f)
				if res.Status != http.StatusOK || f.SHA256 != sha(data) || f.Name != filepath.Base(r.File) {
					t.Errorf("%s: %s answers %d %s", r.File, svc, res.Status, res.Body)
				}
			} else if res.Status != http.StatusNotFound {
				t.Errorf("%s: %s holds it, but the rule says %v", r.File, svc, keepers)
			}
		}
	}
	if seen != len(files) {
		t.Fatalf("the program reported %d files of %d", seen, len(files))
	}
}

// awaitUpload polls an upload's state on zeros until it is placed or failed.
func awaitUpload(t *testing.T, sys *testsystem.System, id string) api.Upload {
	t.Helper()
	var u api.Upload
	testsystem.Eventually(t, 60*time.Second, func() string {
		res := sys.Get(t, messages.Zeros, "/data/uploads/"+id)
		if res.Status != http.StatusOK {
			return fmt.Sprintf("upload %s: %d %s", id, res.Status, res.Body)
		}
		res.JSON(t, &u)
		if u.State != "placed" && u.State != "failed" {
			return "upload " + id + " is " + u.State
		}
		return ""
	})
	return u
}

// kcat, a Kafka client that knows nothing of Go or Watermill, writes chunk
// commands by hand — key, headers and raw value — and the services store the
// file: the wire format is the documented one, not an accident of Go.
func TestKcatSendsAHandWrittenUpload(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat is missing; .ci/run installs it (apt-get install kcat)")
		}
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
	sys := testsystem.Start(t, nil)
	broker := sys.Broker.Addrs()[0]

	t.Run("one command, written out", func(t *testing.T) {
		id := "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"
		data := []byte("\xff\xff\xffkcat") // more one bits than zero bits
		value := filepath.Join(t.TempDir(), "value")
		os.WriteFile(value, data, 0o644)
		cmd := exec.Command(kcat, "-P", "-b", broker, "-t", "baum.commands.store-chunk", "-k", id,
			"-H", "name=baum.StoreChunk.v1", "-H", "upload_id="+id,
			"-H", "chunk_index=0", "-H", "chunk_offset=0", "-H", "last=true",
			"-H", fmt.Sprintf("file_size=%d", len(data)), "-H", "file_sha256="+sha(data),
			"-H", "file_name=by-kcat.bin", "-H", "content_type=application/octet-stream", "-H", "origin=kcat",
			value)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
		u := awaitUpload(t, sys, id)
		o := ones(data)
		if u.State != "placed" || !slices.Equal(u.StoredIn, []messages.Service{messages.Ones}) || *u.OneBits != o ||
			*u.ZeroBits != 8*uint64(len(data))-o || u.SHA256 != sha(data) || u.Origin != "kcat" {
			t.Fatalf("upload %+v, want placed in ones", u)
		}
		res := sys.Get(t, messages.Ones, "/data/"+id)
		var f api.File
		res.JSON(t, &f)
		if f.Name != "by-kcat.bin" || f.Size != int64(len(data)) {
			t.Fatalf("ones holds %+v", f)
		}
	})

	t.Run("the documented script", func(t *testing.T) {
		dir := t.TempDir()
		big := bytes.Repeat([]byte{0x00, 0x01, 0x03}, 200<<10) // 600 KiB: three chunks of the script's 256 KiB
		for _, data := range [][]byte{big, {}} {
			path := filepath.Join(dir, "file.bin")
			os.WriteFile(path, data, 0o644)
			cmd := exec.Command("bash", filepath.Join("docs", "send-with-kcat.sh"), path)
			cmd.Env = append(os.Environ(), "BROKER="+broker)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("send-with-kcat.sh: %v\n%s", err, out)
			}
			id := strings.TrimSpace(string(out))
			u := awaitUpload(t, sys, id)
			o := ones(data)
			keepers := messages.Keepers(8*uint64(len(data))-o, o)
			if u.State != "placed" || !slices.Equal(u.StoredIn, keepers) || *u.Size != int64(len(data)) || u.SHA256 != sha(data) {
				t.Fatalf("%d bytes: upload %+v, want placed in %v", len(data), u, keepers)
			}
		}
	})

	t.Run("a wrong checksum is refused", func(t *testing.T) {
		id := "01a21aec-2e12-7f30-a7b5-9c4a2553c6a2"
		value := filepath.Join(t.TempDir(), "value")
		os.WriteFile(value, []byte("abc"), 0o644)
		cmd := exec.Command(kcat, "-P", "-b", broker, "-t", "baum.commands.store-chunk", "-k", id,
			"-H", "name=baum.StoreChunk.v1", "-H", "upload_id="+id,
			"-H", "chunk_index=0", "-H", "chunk_offset=0", "-H", "last=true",
			"-H", "file_size=3", "-H", "file_sha256="+sha([]byte("abd")), value)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
		u := awaitUpload(t, sys, id)
		if u.State != "failed" || u.Failure == nil || u.Failure.Reason != messages.ReasonChecksumMismatch {
			t.Fatalf("upload %+v, want failed with %s", u, messages.ReasonChecksumMismatch)
		}
		for _, svc := range messages.Services() {
			if res := sys.Get(t, svc, "/data/"+id); res.Status != http.StatusNotFound {
				t.Errorf("%s holds a file whose checksum was wrong: %d", svc, res.Status)
			}
		}
	})
}
