// Package storagetest is the storage port's contract: one suite that every
// adapter (the directory, the bucket) passes, so that the use cases may
// count on the same behaviour from each.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
)

// Adapter is what a service's storage implements.
type Adapter interface {
	command.Disk
	query.StoredFiles
}

// Run runs the contract on adapters that open returns, a new, empty one
// for each subtest.
func Run(t *testing.T, open func(t *testing.T) Adapter) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, a Adapter)
	}{
		{"PromoteStoresTheStagedBytes", promoteStores},
		{"PromoteRefusesAPartlyStagedFile", promoteRefusesAPart},
		{"PromoteRefusesWhatIsNotStaged", promoteRefusesNothing},
		{"PromoteOfAStoredFileIsNotAnError", promoteTwice},
		{"WriteStoredReplaces", writeStoredReplaces},
		{"WriteStoredChecksTheSize", writeStoredChecksTheSize},
		{"RemoveStored", removeStored},
		{"ListStored", listStored},
		{"RangedReads", rangedReads},
		{"ALargeFileIsStreamed", largeFileStreamed},
		{"IDsAreChecked", idsAreChecked},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

var ctx = context.Background()

func stage(t *testing.T, a Adapter, id string, data []byte) {
	t.Helper()
	f, err := a.OpenStaged(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// stored reads stored file id whole, or fails the test.
func stored(t *testing.T, a Adapter, id string) []byte {
	t.Helper()
	r, err := a.OpenStored(ctx, id)
	if err != nil {
		t.Fatalf("open stored %s: %v", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read stored %s: %v", id, err)
	}
	return b
}

func exists(t *testing.T, a Adapter, id string) bool {
	t.Helper()
	ok, err := a.StoredExists(ctx, id)
	if err != nil {
		t.Fatalf("StoredExists(%s): %v", id, err)
	}
	return ok
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func promoteStores(t *testing.T, a Adapter) {
	id, data := uuid.NewString(), []byte("hello, storage")
	stage(t, a, id, data)
	if exists(t, a, id) {
		t.Fatal("stored before Promote")
	}
	if err := a.Promote(ctx, id, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if !exists(t, a, id) {
		t.Error("StoredExists says no after Promote")
	}
	if got := stored(t, a, id); !bytes.Equal(got, data) {
		t.Errorf("stored %q, staged %q", got, data)
	}
	if staged, _ := a.ListStaged(); !slices.Contains(staged, id) {
		t.Errorf("staged %v after Promote; the staged name stays until RemoveStaged", staged)
	}
	if err := a.RemoveStaged(id); err != nil {
		t.Fatal(err)
	}
	if staged, _ := a.ListStaged(); slices.Contains(staged, id) {
		t.Errorf("still staged after RemoveStaged: %v", staged)
	}
	if got := stored(t, a, id); !bytes.Equal(got, data) {
		t.Errorf("after RemoveStaged stored %q, want %q", got, data)
	}
}

// The rest of a file staged in part here was staged by another replica:
// storing the part would store a wrong file.
func promoteRefusesAPart(t *testing.T, a Adapter) {
	id := uuid.NewString()
	stage(t, a, id, []byte("abc"))
	if err := a.Promote(ctx, id, 5); !errors.Is(err, domain.ErrNotStaged) {
		t.Errorf("Promote of 3 of 5 bytes: %v, want ErrNotStaged", err)
	}
	if exists(t, a, id) {
		t.Error("a part was stored")
	}
	if err := a.Promote(ctx, id, -1); err != nil {
		t.Errorf("Promote unchecked (-1): %v", err)
	}
}

func promoteRefusesNothing(t *testing.T, a Adapter) {
	if err := a.Promote(ctx, uuid.NewString(), 3); !errors.Is(err, domain.ErrNotStaged) {
		t.Errorf("Promote of what was never staged: %v, want ErrNotStaged", err)
	}
}

func promoteTwice(t *testing.T, a Adapter) {
	id, data := uuid.NewString(), []byte("twice")
	stage(t, a, id, data)
	for range 2 {
		if err := a.Promote(ctx, id, int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	// A redelivered placement after the staged name went.
	if err := a.RemoveStaged(id); err != nil {
		t.Fatal(err)
	}
	if err := a.Promote(ctx, id, int64(len(data))); err != nil {
		t.Errorf("Promote of a stored file no longer staged: %v", err)
	}
	if got := stored(t, a, id); !bytes.Equal(got, data) {
		t.Errorf("stored %q, want %q", got, data)
	}
}

func writeStoredReplaces(t *testing.T, a Adapter) {
	id := uuid.NewString()
	for _, data := range []string{"first, longer bytes", "second"} {
		if err := a.WriteStored(ctx, id, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if got := string(stored(t, a, id)); got != data {
			t.Errorf("stored %q, want %q", got, data)
		}
	}
	empty := uuid.NewString()
	if err := a.WriteStored(ctx, empty, strings.NewReader(""), 0); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, a, empty); len(got) != 0 || !exists(t, a, empty) {
		t.Errorf("empty file stored as %q", got)
	}
}

// A reader that ends early, or has more than it should, is not the file.
func writeStoredChecksTheSize(t *testing.T, a Adapter) {
	if err := a.WriteStored(ctx, uuid.NewString(), strings.NewReader("abc"), 5); err == nil {
		t.Error("3 bytes stored as 5")
	}
	if err := a.WriteStored(ctx, uuid.NewString(), strings.NewReader("abcdefg"), 5); err == nil {
		t.Error("7 bytes stored as 5")
	}
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("ab"))
		pw.CloseWithError(errors.New("the log went away"))
	}()
	if err := a.WriteStored(ctx, uuid.NewString(), pr, 5); err == nil {
		t.Error("a reader that failed was stored")
	}
}

func removeStored(t *testing.T, a Adapter) {
	id := uuid.NewString()
	if err := a.RemoveStored(ctx, id); err != nil {
		t.Errorf("removing what is not stored: %v", err)
	}
	if err := a.WriteStored(ctx, id, strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveStored(ctx, id); err != nil {
		t.Fatal(err)
	}
	if exists(t, a, id) {
		t.Error("still stored after RemoveStored")
	}
	if _, err := a.OpenStored(ctx, id); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("OpenStored of a removed file: %v, want ErrNotFound", err)
	}
}

// Every stored file, with when it was written (to the second: what S3
// keeps), and nothing staged only.
func listStored(t *testing.T, a Adapter) {
	before := time.Now().Add(-2 * time.Second)
	var want []string
	for range 3 {
		id := uuid.NewString()
		want = append(want, id)
		if err := a.WriteStored(ctx, id, strings.NewReader(id), int64(len(id))); err != nil {
			t.Fatal(err)
		}
	}
	stage(t, a, uuid.NewString(), []byte("staged only"))
	list, err := a.ListStored(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(2 * time.Second)
	var got []string
	for _, f := range list {
		got = append(got, f.ID)
		if f.Written.Before(before) || f.Written.After(after) {
			t.Errorf("%s written at %s, not between %s and %s", f.ID, f.Written, before, after)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ListStored: %v, want %v", got, want)
	}
}

// A download reads from where it seeks: the first, middle and last bytes,
// and the whole, as http.ServeContent asks for a Range.
func rangedReads(t *testing.T, a Adapter) {
	id, data := uuid.NewString(), randomBytes(100_000)
	if err := a.WriteStored(ctx, id, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	r, err := a.OpenStored(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if size, err := r.Seek(0, io.SeekEnd); err != nil || size != int64(len(data)) {
		t.Fatalf("Seek to the end: %d, %v; want %d", size, err, len(data))
	}
	for _, rg := range [][2]int{{0, 10}, {50_000, 1000}, {99_990, 10}, {0, 100_000}, {1, 99_999}, {99_999, 1}, {10, 5}} {
		if _, err := r.Seek(int64(rg[0]), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, rg[1])
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("read %d bytes at %d: %v", rg[1], rg[0], err)
		}
		if !bytes.Equal(got, data[rg[0]:rg[0]+rg[1]]) {
			t.Errorf("bytes %d-%d differ", rg[0], rg[0]+rg[1]-1)
		}
	}
	if _, err := r.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v; want 0, EOF", n, err)
	}
	if pos, err := r.Seek(-10, io.SeekCurrent); err != nil || pos != int64(len(data))-10 {
		t.Errorf("Seek(-10, current): %d, %v", pos, err)
	}
}

// A file larger than one S3 part (16 MiB) is promoted and read back
// without ever being in memory whole.
func largeFileStreamed(t *testing.T, a Adapter) {
	id, data := uuid.NewString(), randomBytes(17<<20)
	stage(t, a, id, data)
	const limit = 8 << 20
	if alloc := allocated(func() {
		if err := a.Promote(ctx, id, int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}); alloc > limit {
		t.Errorf("Promote of %d bytes allocated %d bytes; want under %d", len(data), alloc, limit)
	}
	sum := sha256.New()
	if alloc := allocated(func() {
		r, err := a.OpenStored(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := io.Copy(sum, r); err != nil {
			t.Fatal(err)
		}
	}); alloc > limit {
		t.Errorf("reading %d bytes allocated %d bytes; want under %d", len(data), alloc, limit)
	}
	if want := sha256.Sum256(data); !bytes.Equal(sum.Sum(nil), want[:]) {
		t.Error("the large file read back differs")
	}
}

// allocated reports the bytes this process allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Names come from upload ids alone, never from what a client sends.
func idsAreChecked(t *testing.T, a Adapter) {
	for _, bad := range []string{"../x", "", "not-a-uuid", strings.ToUpper(uuid.NewString())} {
		if _, err := a.OpenStored(ctx, bad); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("OpenStored(%q): %v, want ErrNotFound", bad, err)
		}
		if err := a.WriteStored(ctx, bad, strings.NewReader("x"), 1); err == nil {
			t.Errorf("WriteStored(%q) accepted", bad)
		}
		if _, err := a.OpenStaged(bad); err == nil {
			t.Errorf("OpenStaged(%q) accepted", bad)
		}
	}
}
