package service_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// halfClosedUpload sends an upload's request with the Content-Length of the
// whole multipart body but only its first `send` bytes, closes its side of
// the connection (net/http then cancels the request's context), and reads
// the answer as a client still waiting for it would.
func halfClosedUpload(t *testing.T, sys *testsystem.System, role messages.Service, body []byte, contentType string, send int) *http.Response {
	t.Helper()
	conn := dial(t, sys, role)
	fmt.Fprintf(conn, "POST /data/upload?wait=20s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", contentType, len(body))
	if _, err := conn.Write(body[:send]); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, out)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("no HTTP answer: %v: %q", err, out)
	}
	return res
}

// An upload that is not stored never gets a 2xx. A body cut short (the
// client announces the whole multipart body, sends 1,000 bytes fewer inside
// the file part, then half-closes) was answered 200 with an empty body:
// net/http cancels the request's context when it reads the client's end of
// the connection, the handler returned without an answer, and net/http
// sent an implicit 200. A client that half-closes after the whole body was
// answered the same empty 200 (and the upload aborted if its last chunk was
// still on its way): its upload now goes through, and it is answered 201,
// or 202 with the status URL once its context is gone.
func TestAnUploadCutShortIsAnswered400AndAHalfClosedOneIsStillAnswered(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "4096"})
	data := bytes.Repeat([]byte{0x0F, 0xF0, 0x33}, 10000)
	body, contentType := rawForm(`filename="short.bin"`, data)

	res := halfClosedUpload(t, sys, messages.Zeros, body, contentType, len(body)-len("\r\n--B--\r\n")-1000)
	var e api.Error
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || res.StatusCode != http.StatusBadRequest || e.Status != http.StatusBadRequest || e.Error == "" {
		t.Errorf("cut short: %d %+v (%v), want 400 with a JSON error", res.StatusCode, e, err)
	}
	assertNothingStored(t, sys)

	body, contentType = rawForm(`filename="whole.bin"`, data)
	res = halfClosedUpload(t, sys, messages.Ones, body, contentType, len(body))
	var u api.Upload
	if err := json.NewDecoder(res.Body).Decode(&u); err != nil || u.ID == "" ||
		res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusAccepted {
		t.Fatalf("whole body, then half-closed: %d %+v (%v), want 201 or 202 with the upload", res.StatusCode, u, err)
	}
	// Placed either way: answered at once with 202, it still goes through.
	for _, role := range messages.Keepers(8*uint64(len(data))-ones(data), ones(data)) {
		if f := waitHeld(t, sys, role, u.ID); f.SHA256 != sha(data) {
			t.Errorf("%s holds %+v", role, f)
		}
	}
}
