package service_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func ones(data []byte) (n uint64) {
	for _, b := range data {
		for ; b != 0; b &= b - 1 {
			n++
		}
	}
	return n
}

// listAll reads every page of GET /data and checks that the totals equal the
// sum and number of the listed files.
func listAll(t *testing.T, sys *testsystem.System, role messages.Service) map[string]api.File {
	t.Helper()
	all := map[string]api.File{}
	var first *api.FileList
	after := ""
	for {
		res := sys.Get(t, role, "/data?limit=7"+after)
		if res.Status != http.StatusOK {
			t.Fatalf("GET /data on %s: %d %s", role, res.Status, res.Body)
		}
		var page api.FileList
		res.JSON(t, &page)
		if first == nil {
			first = &page
		} else if page.TotalSize != first.TotalSize || page.Count != first.Count {
			t.Fatalf("totals changed between pages")
		}
		for id, f := range page.ListMetadata {
			all[id] = f
		}
		if page.Next == nil {
			break
		}
		after = "&after=" + *page.Next
	}
	var sum int64
	for _, f := range all {
		sum += f.Size
	}
	if first.TotalSize != sum || first.Count != int64(len(all)) {
		t.Fatalf("%s: total_size %d and count %d, but the list sums to %d over %d files", role, first.TotalSize, first.Count, sum, len(all))
	}
	return all
}

func TestPlacementFollowsTheBits(t *testing.T) {
	sys := testsystem.Start(t, nil)
	cases := []struct {
		name string
		data []byte
		want []messages.Service
	}{
		{"zeros.bin", make([]byte, 1000), []messages.Service{messages.Zeros}},
		{"ones.bin", bytes.Repeat([]byte{0xFF}, 1000), []messages.Service{messages.Ones}},
		{"tie.bin", bytes.Repeat([]byte{0x0F}, 1000), []messages.Service{messages.Zeros, messages.Ones}},
		{"empty.bin", []byte{}, []messages.Service{messages.Zeros, messages.Ones}},
		{"seven.bin", []byte{0x07}, []messages.Service{messages.Zeros}},
		{"one-more-zero.bin", []byte{0xFF, 0x3F, 0x00, 0x01}, []messages.Service{messages.Zeros}},
		{"one-more-one.bin", []byte{0xFF, 0xFF, 0x00, 0x01}, []messages.Service{messages.Ones}},
	}
	uploaded := map[string][]messages.Service{}
	for i, c := range cases {
		for _, to := range messages.Services() { // every file through each service
			t.Run(fmt.Sprintf("%s via %s", c.name, to), func(t *testing.T) {
				res := sys.Upload(t, to, c.name, c.data, "")
				if res.Status != http.StatusCreated {
					t.Fatalf("upload %d: status %d: %s", i, res.Status, res.Body)
				}
				var f api.File
				res.JSON(t, &f)
				wantOnes := ones(c.data)
				if f.Name != c.name || f.Size != int64(len(c.data)) || f.SHA256 != sha(c.data) ||
					f.OneBits != wantOnes || f.ZeroBits != 8*uint64(len(c.data))-wantOnes {
					t.Errorf("201 body %+v; want size %d sha %s ones %d", f, len(c.data), sha(c.data), wantOnes)
				}
				if !slices.Equal(f.StoredIn, c.want) {
					t.Errorf("stored_in %v, want %v", f.StoredIn, c.want)
				}
				if loc := res.Header.Get("Location"); loc != "/data/"+f.ID {
					t.Errorf("Location %q", loc)
				}
				uploaded[f.ID] = c.want
			})
		}
	}
	// Each service holds exactly the files the rule gives it, with the bytes
	// that were sent.
	for _, role := range messages.Services() {
		held := listAll(t, sys, role)
		for id, want := range uploaded {
			_, has := held[id]
			if has != slices.Contains(want, role) {
				t.Errorf("%s holds %s: %v, but the rule says %v", role, id, has, want)
			}
			if has {
				data, err := os.ReadFile(filepath.Join(sys.DataDir, string(role), "files", id[len(id)-2:], id))
				if err != nil || sha(data) != held[id].SHA256 {
					t.Errorf("%s: stored bytes of %s do not hash to its SHA-256 (%v)", role, id, err)
				}
			}
		}
		if len(held) != countFor(uploaded, role) {
			t.Errorf("%s holds %d files, want %d", role, len(held), countFor(uploaded, role))
		}
	}
}

func countFor(uploaded map[string][]messages.Service, role messages.Service) int {
	n := 0
	for _, want := range uploaded {
		if slices.Contains(want, role) {
			n++
		}
	}
	return n
}

func TestMultiChunkFile(t *testing.T) {
	sys := testsystem.Start(t, map[string]string{"BAUM_CHUNK_SIZE": "65536"})
	data := make([]byte, 5<<20+12345) // 81 chunks, the last one short
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	res := sys.Upload(t, messages.Ones, "big.bin", data, "")
	if res.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var f api.File
	res.JSON(t, &f)
	if f.SHA256 != sha(data) || f.Size != int64(len(data)) || f.OneBits != ones(data) || f.ZeroBits+f.OneBits != 8*uint64(len(data)) {
		t.Fatalf("201 body %+v does not describe the file", f)
	}
	for _, role := range f.StoredIn {
		stored, err := os.ReadFile(filepath.Join(sys.DataDir, string(role), "files", f.ID[len(f.ID)-2:], f.ID))
		if err != nil || !bytes.Equal(stored, data) {
			t.Fatalf("%s did not store the bytes sent (%v)", role, err)
		}
	}
	var chunks int
	conn := sys.Conn(t, messages.Zeros)
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE id = $1 AND staged AND size = $2", f.ID, len(data)).Scan(&chunks); err != nil || chunks != 1 {
		t.Fatalf("zeros did not stage the whole upload: %v", err)
	}
}
