package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/internal/s3test"
)

var ctx = context.Background()

// A role lists only its own files: the repair at start removes what it
// lists without metadata, so another role's objects, or a person's, must
// never be among them.
func TestARoleListsOnlyItsOwnObjects(t *testing.T) {
	server := s3test.Start(t)
	bucket := server.Bucket(t)
	zeros, ones := open(t, server.Config(bucket, "zeros/")), open(t, server.Config(bucket, "ones/"))
	mine, theirs := uuid.NewString(), uuid.NewString()
	if err := zeros.WriteStored(ctx, mine, strings.NewReader("z"), 1); err != nil {
		t.Fatal(err)
	}
	if err := ones.WriteStored(ctx, theirs, strings.NewReader("o"), 1); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"zeros/notes.txt", "zeros/sub/" + uuid.NewString(), uuid.NewString()} {
		if _, err := server.Client().PutObject(ctx, bucket, key, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := zeros.ListStored(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != mine {
		t.Errorf("zeros lists %v, want only %s", list, mine)
	}
	if ok, err := zeros.StoredExists(ctx, theirs); ok || err != nil {
		t.Errorf("zeros sees ones' file: %v, %v", ok, err)
	}
}

// An S3 server that is gone, or a bucket that is missing, is an outage:
// retried (domain.ErrUnavailable), never read as "not stored".
func TestAnOutageIsRetriedNotReadAsMissing(t *testing.T) {
	server := s3test.Start(t)
	missing := open(t, server.Config("no-such-bucket", "zeros/"))
	if ok, err := missing.StoredExists(ctx, uuid.NewString()); ok || !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("StoredExists in a missing bucket: %v, %v; want ErrUnavailable", ok, err)
	}
	if _, err := missing.OpenStored(ctx, uuid.NewString()); err == nil || errors.Is(err, domain.ErrNotFound) {
		t.Errorf("OpenStored in a missing bucket: %v; want an error that is not ErrNotFound", err)
	}
	if err := missing.Check(ctx); err == nil || !strings.Contains(err.Error(), "bucket no-such-bucket") {
		t.Errorf("Check of a missing bucket: %v", err)
	}
	store := open(t, server.Config(server.Bucket(t), "zeros/"))
	if err := store.Check(ctx); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	f, err := store.OpenStaged(id)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("staged"))
	f.Close()
	server.Stop()
	if err := store.Promote(ctx, id, 6); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("Promote with the server gone: %v; want ErrUnavailable", err)
	}
	if err := store.WriteStored(ctx, id, strings.NewReader("x"), 1); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("WriteStored with the server gone: %v; want ErrUnavailable", err)
	}
	if _, err := store.StoredExists(ctx, id); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("StoredExists with the server gone: %v; want ErrUnavailable", err)
	}
	if _, err := store.ListStored(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("ListStored with the server gone: %v; want ErrUnavailable", err)
	}
	if _, err := store.OpenStored(ctx, id); err == nil || errors.Is(err, domain.ErrNotFound) {
		t.Errorf("OpenStored with the server gone: %v; want an error that is not ErrNotFound", err)
	}
	if err := store.Check(ctx); err == nil {
		t.Error("Check passes with the server gone")
	}
}

// A read from an offset asks the server for the bytes from there (a Range),
// not for the object: the last bytes of a large file cost a few bytes on
// the wire.
func TestAReadFromAnOffsetIsARangedRequest(t *testing.T) {
	server := s3test.Start(t)
	proxy := countingProxy(t, server.Endpoint)
	c := server.Config(server.Bucket(t), "zeros/")
	c.Endpoint = proxy.addr
	store := open(t, c)
	id, data := uuid.NewString(), bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	if err := store.WriteStored(ctx, id, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	r, err := store.OpenStored(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := proxy.received.Load()
	if _, err := r.Seek(-10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(tail, data[len(data)-10:]) {
		t.Fatalf("tail %q, %v", tail, err)
	}
	if got := proxy.received.Load() - before; got > 64<<10 {
		t.Errorf("reading the last 10 bytes of %d took %d bytes from the server", len(data), got)
	}
}

type proxy struct {
	addr     string
	received atomic.Int64
}

// countingProxy forwards connections to target and counts the bytes that
// come back.
func countingProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &proxy{addr: l.Addr().String()}
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			go p.forward(client, target)
		}
	}()
	return p
}

func (p *proxy) forward(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	go io.Copy(server, client)
	io.Copy(countingWriter{client, &p.received}, server)
}

// countingWriter counts as it writes: a kept-alive connection's bytes are
// counted before it closes.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// A download reads the object it opened: one replaced meanwhile (by a
// person: an id's bytes never change) fails the next ranged read instead of
// mixing two files' bytes.
func TestADownloadDoesNotMixTwoObjects(t *testing.T) {
	server := s3test.Start(t)
	store := open(t, server.Config(server.Bucket(t), "zeros/"))
	id := uuid.NewString()
	if err := store.WriteStored(ctx, id, strings.NewReader("first bytes"), 11); err != nil {
		t.Fatal(err)
	}
	r, err := store.OpenStored(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := store.WriteStored(ctx, id, strings.NewReader("other bytes"), 11); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err == nil {
		t.Errorf("read %q from an object replaced after it was opened", b)
	}
}
