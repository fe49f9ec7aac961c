package service_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum/handlers/http/api"

	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// A file has one stored_at: the 201 of its upload, whichever service
// received it, says what GET /data/{id} and GET /data of every service that
// keeps it say.
func TestTheFileHasOneStoredAtEverywhere(t *testing.T) {
	sys := testsystem.Start(t, nil)
	for _, c := range []struct {
		name string
		via  messages.Service
		data []byte
	}{
		{"ones only, received by zeros", messages.Zeros, bytes.Repeat([]byte{0xFF}, 500)},
		{"zeros only, received by zeros", messages.Zeros, make([]byte, 500)},
		{"a tie, received by ones", messages.Ones, bytes.Repeat([]byte{0x0F}, 500)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := uploadFile(t, sys, c.via, "at.bin", c.data)
			if f.StoredAt.IsZero() || len(f.StoredIn) == 0 {
				t.Fatalf("201: %+v", f)
			}
			for _, keeper := range f.StoredIn {
				held := waitHeld(t, sys, keeper, f.ID)
				listed := listAll(t, sys, keeper)[f.ID]
				if !held.StoredAt.Equal(f.StoredAt) || !listed.StoredAt.Equal(f.StoredAt) {
					t.Errorf("%s: stored_at %s (GET /data/{id}), %s (GET /data); the 201 said %s", keeper,
						held.StoredAt.Format(time.RFC3339Nano), listed.StoredAt.Format(time.RFC3339Nano), f.StoredAt.Format(time.RFC3339Nano))
				}
			}
		})
	}
}

// Ids are UUIDs, which compare case-insensitively: an id in capitals names
// the same file and upload, on every route that takes one.
func TestIdsAreCaseInsensitive(t *testing.T) {
	sys := testsystem.Start(t, nil)
	z := messages.Zeros
	f := uploadFile(t, sys, z, "case.bin", make([]byte, 100))
	upper := strings.ToUpper(f.ID)
	for _, path := range []string{"/data/" + upper, "/data/" + upper + "/content", "/data/uploads/" + upper} {
		res := sys.Get(t, z, path)
		if res.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, res.Status, res.Body)
		}
	}
	var meta api.File
	sys.Get(t, z, "/data/"+upper).JSON(t, &meta)
	if meta.ID != f.ID {
		t.Errorf("GET /data/%s answers id %q, want the canonical %q", upper, meta.ID, f.ID)
	}
	var page api.FileList
	sys.Get(t, z, "/data?after="+upper).JSON(t, &page)
	if page.Count != 1 || len(page.ListMetadata) != 0 {
		t.Errorf("GET /data?after=<the only id, in capitals>: %+v", page)
	}
	for _, bad := range []string{"{" + f.ID + "}", strings.ReplaceAll(f.ID, "-", ""), "urn:uuid:" + f.ID} {
		if res := sys.Get(t, z, "/data/"+bad); res.Status != http.StatusBadRequest {
			t.Errorf("GET /data/%s: %d, want 400 (ids are written 8-4-4-4-12)", bad, res.Status)
		}
	}
	if res := deleteFile(t, sys, z, upper); res.Status != http.StatusNoContent {
		t.Fatalf("DELETE /data/%s: %d %s", upper, res.Status, res.Body)
	}
	if res := sys.Get(t, z, "/data/"+f.ID); res.Status != http.StatusNotFound {
		t.Errorf("after DELETE in capitals, GET /data/%s: %d", f.ID, res.Status)
	}
}
