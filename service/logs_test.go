package service_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// logLines returns the JSON log lines written since offset that mention s,
// decoded.
func logLines(t *testing.T, logs string, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(s)) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("a log line is not JSON: %s", line)
		}
		m["_line"] = string(line)
		out = append(out, m)
	}
	return out
}

// Every log line about an upload, in both services and at every level,
// carries the correlation id of the request that brought it; every line
// about its deletion carries the id of the DELETE; every line about a
// message that fails carries the message's.
func TestEveryLogLineOfAnUploadCarriesItsCorrelationID(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_LOG_LEVEL": "debug"})
	body, ctype := testsystem.MultipartFile(t, "tie.bin", bytes.Repeat([]byte{0x3C}, 3000)) // a tie: both keep it
	req, _ := http.NewRequest(http.MethodPost, sys.URL[messages.Ones]+"/data/upload", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-Correlation-ID", "upload-corr-1")
	res := testsystem.Do(t, req)
	if res.Status != http.StatusCreated || res.Header.Get("X-Correlation-ID") != "upload-corr-1" {
		t.Fatalf("upload: %d %v %s", res.Status, res.Header, res.Body)
	}
	var f api.File
	res.JSON(t, &f)
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 30*time.Second)
	uploadLogs := sys.Logs.String()

	del, _ := http.NewRequest(http.MethodDelete, sys.URL[messages.Zeros]+"/data/"+f.ID, nil)
	del.Header.Set("X-Correlation-ID", "delete-corr-2")
	if res := testsystem.Do(t, del); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 30*time.Second)
	deleteLogs := strings.TrimPrefix(sys.Logs.String(), uploadLogs)

	check := func(logs, corr string, want []string) {
		t.Helper()
		lines := logLines(t, logs, f.ID)
		seen := map[string]bool{}
		for _, l := range lines {
			if l["correlation_id"] != corr {
				t.Errorf("a line about %s lacks correlation_id %q: %s", f.ID, corr, l["_line"])
			}
			seen[l["service"].(string)+": "+l["msg"].(string)] = true
		}
		for _, w := range want {
			if !seen[w] {
				t.Errorf("no line %q with correlation_id %q; lines about the file: %v", w, corr, keys(toAny(seen)))
			}
		}
	}
	check(uploadLogs, "upload-corr-1", []string{
		"ones: upload accepted",
		"zeros: upload staged", "ones: upload staged",
		"zeros: file stored", "ones: file stored",
	})
	check(deleteLogs, "delete-corr-2", []string{"zeros: delete requested", "zeros: file deleted"})
	// A message that fails: Watermill's own lines about each retry, and ours
	// about the poison topic, carry its correlation id.
	_, pub := commandBus(t, sys)
	before := sys.Logs.String()
	bad := message.NewMessage(watermill.NewUUID(), []byte("chunk bytes"))
	for k, v := range map[string]string{
		messages.HeaderName:          messages.NameStoreChunk,
		messages.HeaderCorrelationID: "failing-corr-3",
		messages.HeaderPartitionKey:  "marker-of-a-bad-upload",
		messages.HeaderUploadID:      "marker-of-a-bad-upload", // not a UUID: the handler fails
		messages.HeaderChunkIndex:    "0",
		messages.HeaderChunkOffset:   "0",
	} {
		bad.Metadata.Set(k, v)
	}
	if err := pub.Publish(messages.TopicStoreChunk, bad); err != nil {
		t.Fatal(err)
	}
	testsystem.Eventually(t, 30*time.Second, func() string {
		for _, role := range messages.Services() {
			if scrape(t, sys, role).sum("baum_poisoned_messages_total") != 1 {
				return string(role) + " has not poisoned it yet"
			}
		}
		return ""
	})
	failing := logLines(t, strings.TrimPrefix(sys.Logs.String(), before), "marker-of-a-bad-upload")
	retries := map[string]int{}
	for _, l := range failing {
		if l["correlation_id"] != "failing-corr-3" {
			t.Errorf("a line about the failing message lacks its correlation id: %s", l["_line"])
		}
		if l["msg"] == "message poisoned" {
			retries[l["service"].(string)]++
		}
	}
	// A malformed message is poisoned at once (retrying cannot change its
	// bytes); its poison line names the correlation id in both services.
	if retries["zeros"] != 1 || retries["ones"] != 1 {
		t.Errorf("poison lines per service: %v; lines: %d", retries, len(failing))
	}

	// The request lines themselves name the path, not the file id, for uploads.
	for _, l := range logLines(t, uploadLogs, `"path":"/data/upload"`) {
		if l["correlation_id"] != "upload-corr-1" {
			t.Errorf("request line without the correlation id: %s", l["_line"])
		}
	}
}

func toAny(m map[string]bool) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A client that leaves in the middle of its upload: its request is logged
// once, as 499 (no answer was sent), with where it came from; each service
// says once that the upload failed, however many UploadFailed events reach
// it.
func TestAClientThatLeavesIsLoggedOnceAs499(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "400"})
	conn := dial(t, sys, messages.Zeros)
	body, contentType := rawForm(`filename="left.bin"`, make([]byte, 3000))
	fmt.Fprintf(conn, "POST /data/upload HTTP/1.1\r\nHost: x\r\nUser-Agent: leaving-client/1.0\r\nX-Correlation-ID: leaves-1\r\n"+
		"Content-Type: %s\r\nContent-Length: %d\r\n\r\n", contentType, len(body))
	conn.Write(body[:2000]) // several chunks, then gone
	time.Sleep(200 * time.Millisecond)
	conn.Close()

	var id string
	testsystem.Eventually(t, 30*time.Second, func() string {
		for _, l := range logLines(t, sys.Logs.String(), `"upload failed"`) {
			if l["correlation_id"] == "leaves-1" && l["reason"] == messages.ReasonAborted {
				id, _ = l["upload_id"].(string)
				return ""
			}
		}
		return "no service logged the upload as failed"
	})
	sys.WaitSettled(t, 30*time.Second)
	logs := sys.Logs.String()
	failed := map[string]int{}
	for _, l := range logLines(t, logs, id) {
		if l["msg"] == "upload failed" {
			failed[l["service"].(string)]++
		}
	}
	if failed["zeros"] != 1 || failed["ones"] != 1 {
		t.Errorf("\"upload failed\" lines per service: %v, want one each", failed)
	}
	var requests []map[string]any
	for _, l := range logLines(t, logs, `"path":"/data/upload"`) {
		if l["correlation_id"] == "leaves-1" {
			requests = append(requests, l)
		}
	}
	if len(requests) != 1 {
		t.Fatalf("%d request lines for the upload, want 1: %v", len(requests), requests)
	}
	r := requests[0]
	if r["status"] != float64(499) || r["user_agent"] != "leaving-client/1.0" || !strings.HasPrefix(r["remote_addr"].(string), "127.0.0.1:") {
		t.Errorf("request line %s; want status 499, the user agent and the remote address", r["_line"])
	}
	if n := scrape(t, sys, messages.Zeros).sum("baum_http_requests_total", `status="499"`); n != 1 {
		t.Errorf("baum_http_requests_total{status=\"499\"} is %v, want 1", n)
	}
}
