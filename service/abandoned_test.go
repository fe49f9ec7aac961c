package service_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// stagedBytes sums what both services stage (in staging/<instance>/).
func stagedBytes(sys *testsystem.System) (n int64, files int) {
	filepath.WalkDir(sys.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(path))) == "staging" && !strings.HasPrefix(d.Name(), ".") {
			if info, err := d.Info(); err == nil {
				n += info.Size()
				files++
			}
		}
		return nil
	})
	return n, files
}

// Clients that give up in the middle of their uploads (the connection reset,
// closed, or half-closed, at any point of the file) are known gone: their
// uploads are aborted and both services drop what they staged within
// seconds, not at the stalled-upload sweep.
func TestABurstOfAbandonedUploadsLeavesNothingStaged(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "16384"})
	const clients, size = 40, 1 << 20
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			conn, err := net.Dial("tcp", strings.TrimPrefix(sys.URL[messages.Services()[i%2]], "http://"))
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			body, contentType := rawForm(fmt.Sprintf(`filename="abandoned-%d.bin"`, i), bytes.Repeat([]byte{byte(i)}, size))
			fmt.Fprintf(conn, "POST /data/upload HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", contentType, len(body))
			conn.Write(body[:(i*37%clients+1)*size/(clients+1)])
			time.Sleep(time.Duration(i%5) * 50 * time.Millisecond)
			switch i % 3 {
			case 0:
				conn.(*net.TCPConn).SetLinger(0) // reset
			case 1:
				conn.(*net.TCPConn).CloseWrite()
				conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				conn.Read(make([]byte, 4096))
			}
		})
	}
	wg.Wait()
	gone := time.Now()
	peak, _ := stagedBytes(sys)
	testsystem.Eventually(t, 10*time.Second, func() string {
		if n, files := stagedBytes(sys); n > 0 || files > 0 {
			return fmt.Sprintf("%d bytes in %d staged files", n, files)
		}
		return ""
	})
	t.Logf("%d abandoned uploads: %d bytes staged when the last client was gone, none %s later",
		clients, peak, time.Since(gone).Round(100*time.Millisecond))
}
