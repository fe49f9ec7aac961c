package service_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

const uploadRoute = "/data/uploads/{id}"

func uploadState(t *testing.T, sys *testsystem.System, role messages.Service, id string) (api.Upload, testsystem.Response) {
	t.Helper()
	res := sys.Get(t, role, "/data/uploads/"+id)
	conforms(t, http.MethodGet, uploadRoute, res)
	var st api.Upload
	if res.Status == http.StatusOK {
		res.JSON(t, &st)
	}
	return st, res
}

// awaitState polls until role sees the upload in state (and, if given, done
// says it is as far as the test wants), and returns it.
func awaitState(t *testing.T, sys *testsystem.System, role messages.Service, id, state string, done ...func(api.Upload) bool) api.Upload {
	t.Helper()
	var st api.Upload
	testsystem.Eventually(t, 30*time.Second, func() string {
		var res testsystem.Response
		st, res = uploadState(t, sys, role, id)
		if st.State != state || len(done) > 0 && !done[0](st) {
			return fmt.Sprintf("%s: %d %s", role, res.Status, res.Body)
		}
		return ""
	})
	return st
}

// The status of an upload through each of its states, as another Go program
// sends it chunk by chunk: receiving while chunks arrive, counting once
// staged and counted while the other count is awaited, placed (where, with
// both counts), and failed (why).
func TestUploadStatusThroughEveryState(t *testing.T) {
	sys := testsystem.Start(t, nil)
	bus, _ := commandBus(t, sys)
	data := bytes.Repeat([]byte{0x01, 0x03}, 1000) // 2000 bytes, 3000 one bits: zeros keeps it
	id := uuid.Must(uuid.NewV7()).String()
	chunk := func(index int, from, to int, last bool) messages.StoreChunk {
		c := messages.StoreChunk{UploadID: id, Index: index, Offset: int64(from), Data: data[from:to],
			Name: "steps.bin", ContentType: "application/x-steps", Origin: "status-test"}
		if last {
			c.Last, c.Size, c.SHA256 = true, int64(len(data)), sha(data)
		}
		return c
	}

	if _, res := uploadState(t, sys, messages.Zeros, id); res.Status != http.StatusNotFound {
		t.Fatalf("an upload nobody sent: %d", res.Status)
	}

	// receiving: the first chunk is staged, the rest has not come.
	if err := bus.Send(t.Context(), chunk(0, 0, 1200, false)); err != nil {
		t.Fatal(err)
	}
	for _, role := range messages.Services() {
		st := awaitState(t, sys, role, id, "receiving")
		if st.ReceivedBytes != 1200 || st.Size != nil || st.ZeroBits != nil || st.OneBits != nil ||
			len(st.PlacedIn) != 0 || len(st.StoredIn) != 0 || st.Name != "steps.bin" || st.Origin != "status-test" ||
			st.StatusURL != "/data/uploads/"+id || st.Failure != nil {
			t.Errorf("%s while receiving: %+v", role, st)
		}
	}

	// counting: ones is held up (a transaction of the test locks its record
	// of the upload), so zeros has staged and counted the file but waits for
	// ones' count.
	onesDB := sys.Conn(t, messages.Ones)
	tx, err := onesDB.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE", id); err != nil {
		t.Fatal(err)
	}
	if err := bus.Send(t.Context(), chunk(1, 1200, len(data), true)); err != nil {
		t.Fatal(err)
	}
	// Staged first, then its own count comes back from Kafka.
	st := awaitState(t, sys, messages.Zeros, id, "counting", func(st api.Upload) bool { return st.ZeroBits != nil })
	if st.ReceivedBytes != 2000 || st.Size == nil || *st.Size != 2000 || st.SHA256 != sha(data) ||
		st.ZeroBits == nil || *st.ZeroBits != 13000 || st.OneBits != nil || len(st.PlacedIn) != 0 {
		t.Errorf("zeros while counting: %+v", st)
	}
	if st, _ := uploadState(t, sys, messages.Ones, id); st.State != "receiving" {
		t.Errorf("ones, held up, shows %q", st.State)
	}

	// placed: ones goes on; both know where the file is and both counts.
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, role := range messages.Services() {
		st := awaitState(t, sys, role, id, "placed")
		if st.ZeroBits == nil || *st.ZeroBits != 13000 || st.OneBits == nil || *st.OneBits != 3000 ||
			!slices.Equal(st.PlacedIn, []messages.Service{messages.Zeros}) || !slices.Equal(st.StoredIn, []messages.Service{messages.Zeros}) ||
			st.Failure != nil {
			t.Errorf("%s when placed: %+v", role, st)
		}
	}

	// failed: a sender that gives up after its first chunk.
	aborted := uuid.Must(uuid.NewV7()).String()
	first := chunk(0, 0, 500, false)
	first.UploadID = aborted
	if err := bus.Send(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	if err := bus.Send(t.Context(), messages.AbortUpload{UploadID: aborted, Reason: "the test gave up"}); err != nil {
		t.Fatal(err)
	}
	for _, role := range messages.Services() {
		st := awaitState(t, sys, role, aborted, "failed")
		if st.Failure == nil || st.Failure.Reason != messages.ReasonAborted || st.Failure.Detail != "the test gave up" ||
			len(st.PlacedIn) != 0 || len(st.StoredIn) != 0 {
			t.Errorf("%s when aborted: %+v", role, st)
		}
	}

	// failed: bytes that do not hash to the SHA-256 the last chunk declares.
	corrupt := uuid.Must(uuid.NewV7()).String()
	last := chunk(0, 0, len(data), true)
	last.UploadID, last.SHA256 = corrupt, sha([]byte("something else"))
	if err := bus.Send(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	for _, role := range messages.Services() {
		st := awaitState(t, sys, role, corrupt, "failed")
		if st.Failure == nil || st.Failure.Reason != messages.ReasonChecksumMismatch || st.Failure.Detail == "" {
			t.Errorf("%s with a bad checksum: %+v", role, st)
		}
		if res := sys.Get(t, role, "/data/"+corrupt); res.Status != http.StatusNotFound {
			t.Errorf("%s holds a failed upload: %d", role, res.Status)
		}
	}
	if res := sys.Get(t, messages.Zeros, "/data/uploads/not-an-id"); res.Status != http.StatusBadRequest {
		t.Errorf("bad id: %d", res.Status)
	}
}
