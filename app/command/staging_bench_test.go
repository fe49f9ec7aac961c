package command_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/bits"
	"github.com/baum-store/baum/internal/memstore"
	"github.com/baum-store/baum/messages"
)

// stagingBenchFile is the file every staging benchmark op handles: big
// enough that the page cache, not the CPU cache, takes the writes.
const (
	stagingBenchFile  = 64 << 20
	stagingBenchChunk = messages.DefaultChunkSize
)

// BenchmarkStaging compares one staged file's journey through the
// StageChunkHandler (pass: write and count in the handler, SHA-256 in the
// upload's hasher goroutine) with each of its parts alone and with the
// three done one after the other (sequential, what staging did before).
// Every op is one 64 MiB file in chunks of messages.DefaultChunkSize; MB/s
// is what to compare: pass should approach sha256 (the slowest part) and
// beat sequential.
func BenchmarkStaging(b *testing.B) {
	data := randomData(1, stagingBenchFile)
	dir := b.TempDir()

	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(stagingBenchFile)
		for b.Loop() {
			h := sha256.New()
			for off := 0; off < len(data); off += stagingBenchChunk {
				h.Write(chunkAt(data, off))
			}
			h.Sum(nil)
		}
	})
	b.Run("count", func(b *testing.B) {
		b.SetBytes(stagingBenchFile)
		for b.Loop() {
			c := bits.NewCounter(bits.Zero)
			for off := 0; off < len(data); off += stagingBenchChunk {
				c.Write(chunkAt(data, off))
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		b.SetBytes(stagingBenchFile)
		for b.Loop() {
			f := createStaged(b, dir)
			for off := 0; off < len(data); off += stagingBenchChunk {
				if _, err := f.Write(chunkAt(data, off)); err != nil {
					b.Fatal(err)
				}
			}
			f.Close()
			os.Remove(f.Name())
		}
	})
	b.Run("sequential", func(b *testing.B) {
		b.SetBytes(stagingBenchFile)
		for b.Loop() {
			f := createStaged(b, dir)
			h, c := sha256.New(), bits.NewCounter(bits.Zero)
			for off := 0; off < len(data); off += stagingBenchChunk {
				p := chunkAt(data, off)
				if _, err := f.Write(p); err != nil {
					b.Fatal(err)
				}
				h.Write(p)
				c.Write(p)
			}
			h.Sum(nil)
			f.Close()
			os.Remove(f.Name())
		}
	})
	b.Run("pass", func(b *testing.B) {
		ctx := context.Background()
		s := newStager(b, filepath.Join(dir, "pass"), memstore.New(), nil)
		template := chunks(uuid.NewString(), data, stagingBenchChunk) // hashes data: outside the loop
		b.SetBytes(stagingBenchFile)
		for b.Loop() {
			id := uuid.NewString()
			for _, c := range template {
				c := *c
				c.UploadID = id
				if err := s.handler.Handle(ctx, &c); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.staging.Discard(id); err != nil {
				b.Fatal(err)
			}
		}
		if n := len(s.events.list()); n != b.N {
			b.Fatalf("%d counts published for %d files", n, b.N)
		}
	})
}

// chunkAt returns the chunk of data that starts at off.
func chunkAt(data []byte, off int) []byte { return data[off:min(off+stagingBenchChunk, len(data))] }

func createStaged(b *testing.B, dir string) *os.File {
	f, err := os.CreateTemp(dir, "staged-*")
	if err != nil {
		b.Fatal(err)
	}
	return f
}
