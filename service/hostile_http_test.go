package service_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// rawForm is a multipart body whose file part has exactly this
// Content-Disposition parameter (unescaped, as a hostile client may send).
func rawForm(disposition string, data []byte) ([]byte, string) {
	var buf bytes.Buffer
	buf.WriteString("--B\r\nContent-Disposition: form-data; name=\"file\"; " + disposition + "\r\nContent-Type: application/octet-stream\r\n\r\n")
	buf.Write(data)
	buf.WriteString("\r\n--B--\r\n")
	return buf.Bytes(), "multipart/form-data; boundary=B"
}

// dial opens a raw connection to a service.
func dial(t *testing.T, sys *testsystem.System, role messages.Service) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(sys.URL[role], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedWithin reports whether the server closes conn (after any answer)
// within d, and what it answered.
func closedWithin(conn net.Conn, d time.Duration) (bool, []byte) {
	conn.SetReadDeadline(time.Now().Add(d))
	out, err := io.ReadAll(conn)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout(), out
}

// assertNothingStored waits until the system is idle and checks that no
// service holds a file or keeps a staged or stored file on disk.
func assertNothingStored(t *testing.T, sys *testsystem.System) {
	t.Helper()
	sys.WaitSettled(t, 60*time.Second)
	for _, role := range messages.Services() {
		if held := listAll(t, sys, role); len(held) != 0 {
			t.Errorf("%s holds %d files", role, len(held))
		}
		testsystem.Eventually(t, 30*time.Second, func() string {
			var left []string
			filepath.WalkDir(filepath.Join(sys.DataDir, string(role)), func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					left = append(left, path)
				}
				return nil
			})
			if len(left) > 0 {
				return fmt.Sprintf("%s keeps %v", role, left)
			}
			return ""
		})
	}
}

// Slow clients cannot hold a service's connections: headers that trickle in
// are cut off by the header timeout, a body that stalls by the idle read
// timeout (and what it sent is dropped), while a body that keeps coming,
// however slowly, goes through. Oversized headers, too many parts and files
// over the limit are refused, and nothing of them is stored.
func TestSlowAndOversizedRequestsAreCutOff(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{
		"BAUM_HTTP_READ_HEADER_TIMEOUT": "1s",
		"BAUM_HTTP_IDLE_READ_TIMEOUT":   "2s",
		"BAUM_HTTP_MAX_HEADER_BYTES":    "8192",
		"BAUM_MAX_UPLOAD_BYTES":         "2000",
		"BAUM_CHUNK_SIZE":               "400",
	})

	t.Run("headers one byte a second", func(t *testing.T) {
		conn := dial(t, sys, messages.Zeros)
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			closedWithin(conn, 30*time.Second)
		}()
		start := time.Now()
		header := "POST /data/upload HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 150)
	trickle:
		for i := 0; i < len(header); i++ {
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				break // cut off
			}
			select {
			case <-closed:
				break trickle
			case <-time.After(200 * time.Millisecond):
			}
		}
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatal("a client trickling its headers was not cut off")
		}
		if took := time.Since(start); took > 15*time.Second {
			t.Errorf("cut off only after %s (header timeout 1s)", took)
		}
	})

	t.Run("body that stalls", func(t *testing.T) {
		conn := dial(t, sys, messages.Zeros)
		body, contentType := rawForm(`filename="stall.bin"`, bytes.Repeat([]byte{0}, 1500))
		sent := body[:1000] // more than two chunks' worth, then nothing
		fmt.Fprintf(conn, "POST /data/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", contentType, len(body))
		conn.Write(sent)
		closed, out := closedWithin(conn, 30*time.Second)
		if !closed {
			t.Fatalf("a stalled upload was not cut off; got %q", out)
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("no HTTP answer before the cut: %v: %q", err, out)
		}
		answer := testsystem.Response{Status: res.StatusCode, Header: res.Header, Body: readAll(t, res.Body)}
		conforms(t, http.MethodPost, "/data/upload", answer)
		var e api.Error
		if err := json.Unmarshal(answer.Body, &e); err != nil || res.StatusCode != http.StatusRequestTimeout ||
			e.Status != http.StatusRequestTimeout || !strings.Contains(e.Error, "no data arrived for 2s") {
			t.Errorf("answer %d %+v (%v), want 408", res.StatusCode, e, err)
		}
		assertNothingStored(t, sys)
	})

	t.Run("headers over the limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, sys.URL[messages.Zeros]+"/data", nil)
		req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
		if res := testsystem.Do(t, req); res.Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("16 KiB of headers: %d %s, want 431", res.Status, res.Body)
		} else {
			conforms(t, http.MethodGet, "/data", res)
		}
		up, _ := http.NewRequest(http.MethodPost, sys.URL[messages.Zeros]+"/data/upload", strings.NewReader("x"))
		up.Header.Set("X-Big", strings.Repeat("b", 16<<10))
		conforms(t, http.MethodPost, "/data/upload", testsystem.Do(t, up))
		req.Header.Set("X-Big", strings.Repeat("b", 2<<10))
		if res := testsystem.Do(t, req); res.Status != http.StatusOK {
			t.Errorf("2 KiB of headers: %d %s", res.Status, res.Body)
		}
	})

	t.Run("too many parts", func(t *testing.T) {
		var buf bytes.Buffer
		for i := range 40 {
			fmt.Fprintf(&buf, "--B\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n", i)
		}
		buf.WriteString("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"late.bin\"\r\n\r\nabc\r\n--B--\r\n")
		req, _ := http.NewRequest(http.MethodPost, sys.URL[messages.Zeros]+"/data/upload", &buf)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
		res := testsystem.Do(t, req)
		var e api.Error
		res.JSON(t, &e)
		if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(e.Error, "more than 32 form fields") {
			t.Errorf("40 parts: %d %+v, want 413", res.Status, e)
		}
		assertNothingStored(t, sys)
	})

	t.Run("file over the limit, chunks already sent", func(t *testing.T) {
		// Streamed without a Content-Length, so the limit is met only after
		// five chunks went out: they must be dropped everywhere.
		body, contentType := rawForm(`filename="big.bin"`, make([]byte, 2001))
		req, _ := http.NewRequest(http.MethodPost, sys.URL[messages.Ones]+"/data/upload", io.MultiReader(bytes.NewReader(body)))
		req.Header.Set("Content-Type", contentType)
		res := testsystem.Do(t, req)
		var e api.Error
		res.JSON(t, &e)
		if res.Status != http.StatusRequestEntityTooLarge || !strings.Contains(e.Error, "2000 byte limit") {
			t.Errorf("2001 bytes: %d %+v, want 413", res.Status, e)
		}
		assertNothingStored(t, sys)
	})

	t.Run("body that trickles but keeps coming", func(t *testing.T) {
		data := bytes.Repeat([]byte{0xFF}, 1200)
		body, contentType := rawForm(`filename="slow.bin"`, data)
		pr, pw := io.Pipe()
		go func() {
			for i := 0; i < len(body); i += 100 {
				pw.Write(body[i:min(i+100, len(body))])
				time.Sleep(300 * time.Millisecond) // 4 s in all, never 2 s idle
			}
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, sys.URL[messages.Ones]+"/data/upload", pr)
		req.Header.Set("Content-Type", contentType)
		res := testsystem.Do(t, req)
		if res.Status != http.StatusCreated {
			t.Fatalf("a slow, steady upload: %d %s", res.Status, res.Body)
		}
		var f api.File
		res.JSON(t, &f)
		if f.Size != int64(len(data)) || f.SHA256 != sha(data) {
			t.Errorf("stored %+v", f)
		}
	})
}

var dataPathPattern = regexp.MustCompile(`^(zeros|ones)/(staging/[0-9a-f-]{36}|files/[0-9a-f]{2}/[0-9a-f-]{36})$`)

// A client's file name is metadata only: names that climb out of
// directories, are absolute, carry NUL bytes, are very long or not UTF-8
// are stored (as a clean name, the bytes under the upload id) or refused
// with 400, and nothing is written outside the data directory.
func TestFileNamesNeverBecomePaths(t *testing.T) {
	sys := testsystem.Start(t, nil)
	marker := "baum-evil-" + uuid.NewString()[:8]
	tmp := os.TempDir()
	cases := []struct {
		disposition string
		status      int
		name        string // the name kept, for 201
	}{
		{`filename="../../../../../../../..` + tmp + `/` + marker + `"`, http.StatusCreated, marker},
		{`filename="../../` + marker + `-up"`, http.StatusCreated, marker + "-up"},
		{`filename="` + tmp + `/` + marker + `-abs"`, http.StatusCreated, marker + "-abs"},
		{`filename="..\..\..\..\` + marker + `-win"`, http.StatusCreated, marker + "-win"},
		{`filename="C:\Windows\` + marker + `-drive"`, http.StatusCreated, marker + "-drive"},
		{`filename*=UTF-8''..%2F..%2F` + marker + `-2231%00.bin`, http.StatusCreated, marker + "-2231.bin"},
		{`filename=".."`, http.StatusCreated, ""},
		{`filename="/"`, http.StatusCreated, ""},
		{`filename="a` + "\x00" + `b"`, http.StatusBadRequest, ""},
		{`filename="` + "\xff\xfe" + marker + `-latin1.bin"`, http.StatusCreated, "\uFFFD" + marker + "-latin1.bin"},
		{`filename="` + marker + "-tab\tand" + `"`, http.StatusCreated, marker + "-taband"},
		{`filename="` + marker + "-del\x7f" + `"`, http.StatusBadRequest, ""},
		{`filename*=UTF-8''` + marker + `-esc%1B%5B2J%0D%0A%7F.bin`, http.StatusCreated, marker + "-esc[2J.bin"},
		{`filename="` + strings.Repeat("n", 5000) + `"`, http.StatusBadRequest, ""},
		{`filename="` + strings.Repeat("ü", 600) + `"`, http.StatusBadRequest, ""},
		{`filename="` + strings.Repeat("../", 300) + marker + `-deep"`, http.StatusCreated, marker + "-deep"},
	}
	data := []byte("not a path\n")
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			body, contentType := rawForm(c.disposition, data)
			req, _ := http.NewRequest(http.MethodPost, sys.URL[messages.Zeros]+"/data/upload", bytes.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			res := testsystem.Do(t, req)
			if res.Status != c.status {
				t.Fatalf("%q: status %d, want %d: %s", c.disposition, res.Status, c.status, res.Body)
			}
			if c.status != http.StatusCreated {
				var e api.Error
				res.JSON(t, &e)
				if e.Status != c.status || e.Error == "" {
					t.Errorf("%q: error body %s", c.disposition, res.Body)
				}
				return
			}
			var f api.File
			res.JSON(t, &f)
			if f.Name != c.name {
				t.Errorf("%q: name %q, want %q", c.disposition, f.Name, c.name)
			}
			var held api.File
			sys.Get(t, messages.Zeros, "/data/"+f.ID).JSON(t, &held)
			if held.Name != c.name {
				t.Errorf("%q: GET /data/{id} name %q, want %q", c.disposition, held.Name, c.name)
			}
			// The bytes are where the id, and only the id, says.
			stored, err := os.ReadFile(filepath.Join(sys.DataDir, "zeros", "files", f.ID[len(f.ID)-2:], f.ID))
			if err != nil || !bytes.Equal(stored, data) {
				t.Errorf("%q: stored file: %v %q", c.disposition, err, stored)
			}
		})
	}

	// Every file in the data directory is a staged or stored upload named
	// by its id (or the broker's log); none is named after a client.
	sys.WaitSettled(t, 60*time.Second)
	root := filepath.Dir(sys.DataDir) // the test's own temporary directory
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", path, err)
			return nil
		}
		if strings.Contains(d.Name(), marker) {
			t.Errorf("a file is named after a client: %s", path)
		}
		rel, _ := filepath.Rel(sys.DataDir, path)
		if d.IsDir() || strings.HasPrefix(rel, "kafka"+string(filepath.Separator)) {
			return nil
		}
		if !dataPathPattern.MatchString(filepath.ToSlash(rel)) {
			t.Errorf("unexpected file %s", path)
		}
		return nil
	})
	for _, dir := range []string{tmp, "/", ".", filepath.Dir(root)} {
		if matches, _ := filepath.Glob(filepath.Join(dir, marker+"*")); len(matches) > 0 {
			t.Errorf("written outside the data directory: %v", matches)
		}
	}
}
