package service_test

import (
	"bytes"
	"testing"
	"time"

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
