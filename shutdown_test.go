package baum_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// Stopping in the middle of work and starting again loses nothing: every
// accepted upload ends up where the rule says, once.
func TestGracefulStopAndRestartLoseNothing(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "4096"})
	type accepted struct {
		id   string
		want []messages.Service
		data []byte
	}
	var (
		mu   sync.Mutex
		done []accepted
		wg   sync.WaitGroup
	)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Mixed contents and sizes: 100 B to ~1.9 MB, up to 460 chunks each.
			data := bytes.Repeat([]byte{byte(i * 37)}, 100+i*170000)
			res := sys.Upload(t, messages.Services()[i%2], fmt.Sprintf("%d.bin", i), data, "?wait=0")
			if res.Status != http.StatusAccepted {
				t.Errorf("upload %d: %d %s", i, res.Status, res.Body)
				return
			}
			var st struct {
				ID string `json:"id"`
			}
			res.JSON(t, &st)
			z, o := 8*uint64(len(data))-ones(data), ones(data)
			var want []messages.Service
			if z >= o {
				want = append(want, messages.Zeros)
			}
			if o >= z {
				want = append(want, messages.Ones)
			}
			mu.Lock()
			done = append(done, accepted{st.ID, want, data})
			mu.Unlock()
		}()
	}
	wg.Wait()
	var open int
	sys.Conn(t, messages.Zeros).QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE state <> 'placed'").Scan(&open)
	t.Logf("restarting with %d of %d uploads not yet placed", open, len(done))
	sys.Restart(t) // while chunks and events are still being handled
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 60*time.Second)
	for _, role := range messages.Services() {
		held := listAll(t, sys, role)
		n := 0
		for _, a := range done {
			f, ok := held[a.id]
			should := len(a.want) == 2 || a.want[0] == role
			if ok != should {
				t.Errorf("%s holds %s: %v, rule says %v", role, a.id, ok, a.want)
			}
			if ok {
				n++
				if f.SHA256 != sha(a.data) {
					t.Errorf("%s: %s has the wrong hash", role, a.id)
				}
			}
		}
		if len(held) != n {
			t.Errorf("%s holds %d files, %d expected", role, len(held), n)
		}
	}
}
