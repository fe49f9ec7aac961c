package command_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/bits"
	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/internal/memstore"
	"github.com/baum-store/baum/messages"
)

// events records what the handlers publish.
type events struct {
	mu  sync.Mutex
	all []any
}

func (e *events) Publish(_ context.Context, event any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, event)
	return nil
}

func (e *events) list() []any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]any(nil), e.all...)
}

// stager is a StageChunkHandler of zeros on a temporary data directory.
type stager struct {
	staging *command.Staging
	handler *command.StageChunkHandler
	uploads *memstore.Store
	events  *events
	dir     string
}

func newStager(t testing.TB, dir string, uploads *memstore.Store, newHash func() hash.Hash) *stager {
	t.Helper()
	disk, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	staging, err := command.NewStagingWithConfig(command.StagingConfig{Disk: disk, Kind: bits.Zero, NewHash: newHash})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	h, err := command.NewStageChunkHandler(command.StageChunkConfig{Self: messages.Zeros, Uploads: uploads, Staging: staging, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	return &stager{handler: h, staging: staging, uploads: uploads, events: ev, dir: dir}
}

// chunks splits data as a Sender would, with chunks of the given sizes
// (the last one repeated).
func chunks(id string, data []byte, sizes ...int) []*messages.StoreChunk {
	var out []*messages.StoreChunk
	for off, i := 0, 0; ; i++ {
		n := sizes[min(i, len(sizes)-1)]
		end := min(off+n, len(data))
		c := &messages.StoreChunk{UploadID: id, Index: i, Offset: int64(off), Data: data[off:end], Name: "f.bin", Origin: "test"}
		if end == len(data) {
			sum := sha256.Sum256(data)
			c.Last, c.Size, c.SHA256 = true, int64(len(data)), hex.EncodeToString(sum[:])
			return append(out, c)
		}
		out = append(out, c)
		off = end
	}
}

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// counted returns the BitsCounted the stager published, failing the test on
// anything else. A redelivered last chunk publishes the same count again
// (the first event may not have gone out), so there may be several, equal
// but for their time.
func (s *stager) counted(t *testing.T) messages.BitsCounted {
	t.Helper()
	var out []messages.BitsCounted
	for _, e := range s.events.list() {
		switch e := e.(type) {
		case messages.BitsCounted:
			out = append(out, e)
		default:
			t.Fatalf("unexpected event %#v", e)
		}
	}
	if len(out) == 0 {
		t.Fatal("published no BitsCounted")
	}
	for _, e := range out[1:] {
		if e.At = out[0].At; e != out[0] {
			t.Fatalf("published different counts: %+v and %+v", out[0], e)
		}
	}
	return out[0]
}

func checkCount(t *testing.T, e messages.BitsCounted, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	if e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(data)) || e.Count != bits.Zeros(data) {
		t.Fatalf("counted %d zero bits of %d bytes with SHA-256 %s; want %d, %d, %x",
			e.Count, e.Size, e.SHA256, bits.Zeros(data), len(data), sum)
	}
}

// TestStagingVerifiesAndCountsEveryChunking stages files in chunks of many
// sizes, with every chunk delivered twice, and checks the published count
// and SHA-256 against the whole file's.
func TestStagingVerifiesAndCountsEveryChunking(t *testing.T) {
	ctx := context.Background()
	for i, sizes := range [][]int{{1 << 20}, {1000}, {1, 7, 4096}, {65536, 3}, {333}} {
		s := newStager(t, t.TempDir(), memstore.New(), nil)
		data := randomData(uint64(i), 100_003)
		id := uuid.NewString()
		for _, c := range chunks(id, data, sizes...) {
			for range 2 {
				if err := s.handler.Handle(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkCount(t, s.counted(t), data)
		if u, _ := s.uploads.Get(ctx, id); !u.Staged || u.StagedCount != bits.Zeros(data) {
			t.Fatalf("upload record %+v is not staged with the count", u)
		}
	}
}

// TestStagingResumesAfterRestart: a new process (a new Staging) picks up a
// staged file that holds some chunks and half of the next, rebuilds the hash
// and count from the disk and finishes with the right sum.
func TestStagingResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir, uploads := t.TempDir(), memstore.New()
	data := randomData(42, 50_000)
	id := uuid.NewString()
	cs := chunks(id, data, 10_000)

	first := newStager(t, dir, uploads, nil)
	for _, c := range cs[:2] {
		if err := first.handler.Handle(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// A crash in the middle of writing chunk 2.
	f, err := os.OpenFile(filepath.Join(dir, "staging", id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(cs[2].Data[:4321])
	f.Close()

	second := newStager(t, dir, uploads, nil)
	for _, c := range cs[1:] { // redelivered from the last committed offset
		if err := second.handler.Handle(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	checkCount(t, second.counted(t), data)
}

// TestStagingDoesNotWaitForTheHash: while the hash of an upload is stuck,
// its chunks are still written and handled (their messages acknowledged);
// only the last chunk waits for the sum it verifies. Sequential hashing
// would block in the first Handle.
func TestStagingDoesNotWaitForTheHash(t *testing.T) {
	ctx := context.Background()
	gate := &gatedHash{Hash: sha256.New(), open: make(chan struct{})}
	dir := t.TempDir()
	s := newStager(t, dir, memstore.New(), func() hash.Hash { return gate })
	data := randomData(7, 30_000)
	id := uuid.NewString()
	cs := chunks(id, data, 10_000)
	if len(cs) != 3 {
		t.Fatalf("want 3 chunks, got %d", len(cs))
	}

	handled := make(chan error)
	go func() {
		for _, c := range cs[:2] {
			if err := s.handler.Handle(ctx, c); err != nil {
				handled <- err
				return
			}
		}
		handled <- nil
	}()
	select {
	case err := <-handled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("handling a chunk waited for its hash")
	}
	if staged, err := os.ReadFile(filepath.Join(dir, "staging", id)); err != nil || !bytes.Equal(staged, data[:20_000]) {
		t.Fatalf("staged file holds %d bytes (%v), want the first two chunks", len(staged), err)
	}

	last := make(chan error, 1)
	go func() { last <- s.handler.Handle(ctx, cs[2]) }()
	if len(s.events.list()) != 0 {
		t.Fatal("published a count before the hash was done")
	}
	close(gate.open)
	if err := <-last; err != nil {
		t.Fatal(err)
	}
	checkCount(t, s.counted(t), data)
}

// gatedHash blocks every Write until open is closed.
type gatedHash struct {
	hash.Hash
	open chan struct{}
}

func (g *gatedHash) Write(p []byte) (int, error) {
	<-g.open
	return g.Hash.Write(p)
}

// TestStagingFailsOnAWrongHash: a file whose bytes do not hash to the
// declared SHA-256 fails with checksum_mismatch and leaves nothing staged.
func TestStagingFailsOnAWrongHash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := newStager(t, dir, memstore.New(), nil)
	data := randomData(9, 5000)
	id := uuid.NewString()
	cs := chunks(id, data, 2000)
	cs[len(cs)-1].SHA256 = hex.EncodeToString(make([]byte, 32))
	for _, c := range cs {
		if err := s.handler.Handle(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	evs := s.events.list()
	if len(evs) != 1 {
		t.Fatalf("published %v, want one UploadFailed", evs)
	}
	if f, ok := evs[0].(messages.UploadFailed); !ok || f.Reason != messages.ReasonChecksumMismatch {
		t.Fatalf("published %#v, want UploadFailed for a checksum mismatch", evs[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "staging", id)); !os.IsNotExist(err) {
		t.Fatalf("staged file still there: %v", err)
	}
}

// TestOneChunkFileStagesInOneTransaction: a file that fits one chunk is
// described and recorded as staged in a single transaction (each one is a
// commit, an fsync of PostgreSQL's log, on every small upload's path).
func TestOneChunkFileStagesInOneTransaction(t *testing.T) {
	ctx := context.Background()
	uploads := memstore.New()
	s := newStager(t, t.TempDir(), uploads, nil)
	data := randomData(3, 4096)
	id := uuid.NewString()
	if err := s.handler.Handle(ctx, chunks(id, data, 1<<20)[0]); err != nil {
		t.Fatal(err)
	}
	checkCount(t, s.counted(t), data)
	u, _ := uploads.Get(ctx, id)
	if uploads.Updates() != 1 || u.Name != "f.bin" || u.Origin != "test" {
		t.Fatalf("%d transactions, upload %+v; want 1, described", uploads.Updates(), u)
	}
}
