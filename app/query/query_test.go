package query_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/internal/memstore"
	"github.com/baum-store/baum/messages"
)

// hold records a held file of size bytes in the store, as a keeper does.
func hold(t *testing.T, store *memstore.Store, id string, size int64) {
	t.Helper()
	err := store.Update(t.Context(), id, func(u *domain.Upload, files command.FileIndex) error {
		u.Kept = true
		return files.Add(t.Context(), domain.File{ID: id, Name: id + ".bin", Size: size, ZeroBits: 8 * uint64(size)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func id(n int) string {
	return "00000000-0000-7000-8000-" + strings.Repeat("0", 11) + string(rune('a'+n))
}

func TestListFilesPagesThroughEverythingWithTheTotals(t *testing.T) {
	store := memstore.New()
	for i := range 5 {
		hold(t, store, id(i), int64(i+1))
	}
	list := query.NewListFilesHandler(store)
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := list.Handle(t.Context(), query.ListFiles{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if page.Totals != (domain.Totals{TotalSize: 15, Count: 5}) {
			t.Fatalf("page %d: totals %+v, want everything held, not the page", pages, page.Totals)
		}
		for _, f := range page.Files {
			seen = append(seen, f.ID)
		}
		if page.Next == "" {
			break
		}
		if len(page.Files) != 2 || page.Next != page.Files[1].ID {
			t.Fatalf("page %d: %d files, next %q", pages, len(page.Files), page.Next)
		}
		after = page.Next
	}
	if strings.Join(seen, ",") != strings.Join([]string{id(0), id(1), id(2), id(3), id(4)}, ",") {
		t.Errorf("listed %v", seen)
	}
	for _, limit := range []int{-1, query.MaxLimit + 1} {
		if _, err := list.Handle(t.Context(), query.ListFiles{Limit: limit}); err == nil {
			t.Errorf("limit %d accepted", limit)
		}
	}
	if page, err := list.Handle(t.Context(), query.ListFiles{}); err != nil || len(page.Files) != 5 || page.Next != "" {
		t.Errorf("the default limit: %d files, next %q, %v", len(page.Files), page.Next, err)
	}
}

func TestUploadAwaitWakesOnTheNotifierAndCountsTheUnknownAsReceiving(t *testing.T) {
	store, notifier := memstore.New(), domain.NewNotifier()
	uploads := query.NewUploadHandler(store, notifier)
	u := id(1)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	got, err := uploads.Await(ctx, u)
	if !errors.Is(err, context.DeadlineExceeded) || got.State != domain.Receiving {
		t.Fatalf("an unknown upload: %+v, %v; want receiving when the wait ends", got, err)
	}

	done := make(chan *domain.Upload, 1)
	go func() {
		u, _ := uploads.Await(context.Background(), u)
		done <- u
	}()
	time.Sleep(20 * time.Millisecond)
	store.Update(t.Context(), u, func(x *domain.Upload, _ command.FileIndex) error {
		x.Fail(messages.Zeros, messages.ReasonAborted, "test")
		return nil
	})
	start := time.Now()
	notifier.Notify(u)
	select {
	case got := <-done:
		if got.State != domain.Failed {
			t.Fatalf("woke with %+v", got)
		}
		// The poll would take 500 ms; the notifier wakes at once.
		if waited := time.Since(start); waited > 400*time.Millisecond {
			t.Errorf("woke %s after the notice", waited)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end when the upload failed")
	}
}

func TestFileAwaitGoneEndsWhenTheFileIsDeleted(t *testing.T) {
	store, notifier := memstore.New(), domain.NewNotifier()
	files := query.NewFileHandler(store, notifier)
	f := id(2)
	hold(t, store, f, 3)
	if got, err := files.Handle(t.Context(), f); err != nil || got.Size != 3 {
		t.Fatalf("held file: %+v, %v", got, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if err := files.AwaitGone(ctx, f); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a held file is gone: %v", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		store.DeleteFile(context.Background(), f)
		notifier.Notify(f)
	}()
	if err := files.AwaitGone(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Handle(t.Context(), f); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("after the delete: %v", err)
	}
}

// storedFiles serves the bytes of stored files from memory.
type storedFiles map[string]string

type readSeekCloser struct{ *strings.Reader }

func (readSeekCloser) Close() error { return nil }

func (s storedFiles) OpenStored(_ context.Context, id string) (io.ReadSeekCloser, error) {
	b, ok := s[id]
	if !ok {
		return nil, domain.ErrNotFound
	}
	return readSeekCloser{strings.NewReader(b)}, nil
}

func TestFileContentServesOnlyBytesThatMatchTheMetadata(t *testing.T) {
	store := memstore.New()
	good, short, lost, unknown := id(3), id(4), id(5), id(6)
	for _, f := range []string{good, short, lost} {
		hold(t, store, f, 4)
	}
	content := query.NewFileContentHandler(store, storedFiles{good: "abcd", short: "abc"})
	c, err := content.Handle(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c.Body)
	c.Body.Close()
	if string(b) != "abcd" || c.File.ID != good {
		t.Errorf("served %q for %+v", b, c.File)
	}
	if _, err := content.Handle(t.Context(), short); err == nil || errors.Is(err, domain.ErrNotFound) {
		t.Errorf("bytes shorter than the metadata: %v; want an error that is not a 404", err)
	}
	if _, err := content.Handle(t.Context(), lost); err == nil || errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a held file without bytes: %v; want an error that is not a 404", err)
	}
	if _, err := content.Handle(t.Context(), unknown); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a file not held: %v; want not found", err)
	}
}

// A cursor belongs to the sort and order of the listing that made it; a
// filter that cannot be read is refused, never taken for "everything".
func TestListFilesRefusesForeignCursorsAndBadFilters(t *testing.T) {
	store := memstore.New()
	for i := range 3 {
		hold(t, store, id(i), int64(10-i))
	}
	list := query.NewListFilesHandler(store)
	bySize := query.FileOrder{Key: query.SortSize}
	page, err := list.Handle(t.Context(), query.ListFiles{Limit: 1, Order: bySize})
	if err != nil || page.Next == "" || page.Files[0].ID != id(2) {
		t.Fatalf("first page by size: %+v, %v", page, err)
	}
	if next, err := list.Handle(t.Context(), query.ListFiles{Limit: 1, Order: bySize, After: page.Next}); err != nil || next.Files[0].ID != id(1) {
		t.Fatalf("second page by size: %+v, %v", next, err)
	}
	size := int64(-1)
	for _, bad := range []query.ListFiles{
		{Order: query.FileOrder{Key: query.SortSize, Desc: true}, After: page.Next}, // the other direction
		{Order: query.FileOrder{Key: query.SortName}, After: page.Next},             // another key
		{After: page.Next},                                            // the default order takes ids
		{Order: bySize, After: id(1)},                                 // an id where a cursor belongs
		{Order: bySize, After: "bm90IGpzb24"},                         // base64 of "not json"
		{Order: query.FileOrder{Key: "colour"}},                       // no such key
		{Filter: query.FileFilter{ContentType: "image"}},              // no subtype
		{Filter: query.FileFilter{ContentType: "*/*"}},                // no type
		{Filter: query.FileFilter{ContentType: "text/plain; a=b"}},    // parameters
		{Filter: query.FileFilter{MinSize: &size}},                    // negative
		{Filter: query.FileFilter{Prefix: strings.Repeat("x", 2000)}}, // longer than any name
	} {
		if _, err := list.Handle(t.Context(), bad); !errors.Is(err, query.ErrBadListing) {
			t.Errorf("%+v: %v; want ErrBadListing", bad, err)
		}
	}
	if page, err := list.Handle(t.Context(), query.ListFiles{After: strings.ToUpper(id(0))}); err != nil || len(page.Files) != 2 {
		t.Errorf("an id cursor in capitals: %+v, %v", page, err)
	}
}
