package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

func TestPlacementRule(t *testing.T) {
	z, o := messages.Zeros, messages.Ones
	cases := []struct {
		zeros, ones uint64
		want        []messages.Service
	}{
		{8000, 0, []messages.Service{z}},       // all zero bytes
		{0, 8000, []messages.Service{o}},       // all 0xFF
		{4000, 4000, []messages.Service{z, o}}, // 0x0F bytes: a tie
		{0, 0, []messages.Service{z, o}},       // empty file: a tie
		{5, 3, []messages.Service{z}},          // a single 0x07
		{3, 5, []messages.Service{o}},
		{1 << 62, 1<<62 + 1, []messages.Service{o}},
	}
	for _, c := range cases {
		if got := messages.Keepers(c.zeros, c.ones); !slices.Equal(got, c.want) {
			t.Errorf("Keepers(%d zeros, %d ones) = %v, want %v", c.zeros, c.ones, got, c.want)
		}
		for _, s := range messages.Services() {
			if s.Keeps(c.zeros, c.ones) != slices.Contains(c.want, s) {
				t.Errorf("Keeps(%s, %d, %d) disagrees with Keepers", s, c.zeros, c.ones)
			}
		}
	}
	if domain.BitKind(z).String() != "zero" || domain.BitKind(o).String() != "one" {
		t.Error("each service must count its own bit kind")
	}
}

func counted(s messages.Service, count uint64, size int64) messages.BitsCounted {
	bit := "zero"
	if s == messages.Ones {
		bit = "one"
	}
	return messages.BitsCounted{UploadID: "u", Service: s, Bit: bit, Count: count, Size: size, SHA256: "h"}
}

func TestTheEventThatCompletesTheCountsDecides(t *testing.T) {
	u := domain.NewUpload("u")
	if decided, err := u.RecordCount(counted(messages.Ones, 10, 2)); decided || err != nil {
		t.Fatalf("decided on one count: %v %v", decided, err)
	}
	if decided, err := u.RecordCount(counted(messages.Zeros, 6, 2)); !decided || err != nil {
		t.Fatalf("not decided on both counts: %v", err)
	}
	if !slices.Equal(u.Keepers, []messages.Service{messages.Ones}) || u.State != domain.Counting {
		t.Fatalf("keepers %v state %s", u.Keepers, u.State)
	}
	// A failure after the decision changes nothing; so does a late count.
	if u.Fail(messages.Zeros, messages.ReasonAborted, "late") || u.State == domain.Failed {
		t.Fatal("a failure after the decision failed the upload")
	}
	if decided, _ := u.RecordCount(counted(messages.Zeros, 16, 2)); decided || *u.ZeroBits != 6 {
		t.Fatal("a count after the decision changed it")
	}
	if u.RecordStored(messages.Ones); u.State != domain.Placed {
		t.Fatalf("state %s after the keeper stored it", u.State)
	}
}

func TestTieIsPlacedOnlyWhenBothStored(t *testing.T) {
	u := domain.NewUpload("u")
	u.RecordCount(counted(messages.Zeros, 8, 2))
	u.RecordCount(counted(messages.Ones, 8, 2))
	u.RecordStored(messages.Zeros)
	if u.State == domain.Placed {
		t.Fatal("placed with one of two keepers")
	}
	if changed := u.RecordStored(messages.Zeros); changed {
		t.Fatal("the same FileStored twice changed the upload")
	}
	u.RecordStored(messages.Ones)
	if u.State != domain.Placed || !slices.Equal(u.StoredIn, []messages.Service{messages.Zeros, messages.Ones}) {
		t.Fatalf("state %s stored in %v", u.State, u.StoredIn)
	}
}

func TestCountsThatDisagreeFailTheUpload(t *testing.T) {
	u := domain.NewUpload("u")
	u.RecordCount(counted(messages.Zeros, 9, 2))
	if _, err := u.RecordCount(counted(messages.Ones, 8, 2)); err == nil {
		t.Fatal("9 + 8 bits accepted for 2 bytes")
	}
	u = domain.NewUpload("u")
	u.RecordCount(counted(messages.Zeros, 8, 2))
	other := counted(messages.Ones, 8, 2)
	other.SHA256 = "other"
	if _, err := u.RecordCount(other); err == nil {
		t.Fatal("services that hashed different bytes agreed")
	}
}

func TestFailureBeforeTheDecisionFails(t *testing.T) {
	u := domain.NewUpload("u")
	u.RecordCount(counted(messages.Zeros, 8, 2))
	if !u.Fail(messages.Ones, messages.ReasonStorageFull, "disk") || u.State != domain.Failed {
		t.Fatal("a failure before the decision did not fail the upload")
	}
	if decided, _ := u.RecordCount(counted(messages.Ones, 8, 2)); decided {
		t.Fatal("a failed upload was decided")
	}
}

// Where a file is held follows the events: the keepers while they store
// it, then those that reported FileStored, less those whose FileDeleted came.
func TestHoldersFollowStoresAndDeletes(t *testing.T) {
	both := []messages.Service{messages.Zeros, messages.Ones}
	u := domain.NewUpload("u")
	if h := u.Holders(); len(h) != 0 {
		t.Fatalf("undecided upload held in %v", h)
	}
	u.RecordCount(counted(messages.Zeros, 8, 2))
	u.RecordCount(counted(messages.Ones, 8, 2))
	u.RecordStored(messages.Zeros) // zeros' own, at its decision
	if h := u.Holders(); !slices.Equal(h, both) {
		t.Fatalf("a tie being stored is held in %v, want both keepers", h)
	}
	u.RecordStored(messages.Ones)
	u.RecordDeleted(messages.Zeros)
	if h, f := u.Holders(), u.File(); !slices.Equal(h, []messages.Service{messages.Ones}) || !slices.Equal(f.StoredIn, h) {
		t.Fatalf("after zeros deleted its copy: held in %v, the file says %v; want [ones]", h, f.StoredIn)
	}
	u.RecordDeleted(messages.Ones)
	if h := u.Holders(); len(h) != 0 {
		t.Fatalf("after both deleted: held in %v", h)
	}
}

// The count that decides dates the decision, as the database keeps times:
// every service decides on the same count, so all agree on the file's
// stored_at.
func TestTheDecidingCountDatesTheFile(t *testing.T) {
	u := domain.NewUpload("u")
	first, last := counted(messages.Zeros, 8, 2), counted(messages.Ones, 8, 2)
	first.At = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	last.At = time.Date(2026, 1, 2, 3, 4, 6, 123456789, time.FixedZone("CET", 3600))
	u.RecordCount(first)
	u.RecordCount(last)
	want := time.Date(2026, 1, 2, 2, 4, 6, 123456000, time.UTC)
	if f := u.File(); !u.DecidedAt.Equal(want) || u.DecidedAt.Location() != time.UTC || !f.StoredAt.Equal(want) {
		t.Fatalf("decided at %s, file stored at %s; want %s", u.DecidedAt, f.StoredAt, want)
	}
}

func TestMediaTypeIsTheDeclaredOneOrOctetStream(t *testing.T) {
	for declared, want := range map[string]string{
		"":                          domain.OctetStream,
		"application/octet-stream":  domain.OctetStream,
		"IMAGE/PNG":                 "image/png",
		"text/plain; Charset=utf-8": "text/plain; charset=utf-8",
		"attachment":                domain.OctetStream,
		"text/":                     domain.OctetStream,
		"a/b; c":                    domain.OctetStream,
	} {
		if got := domain.MediaType(declared); got != want {
			t.Errorf("MediaType(%q) = %q, want %q", declared, got, want)
		}
	}
}
