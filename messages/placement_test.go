package messages_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/baum-store/baum/messages"
)

func bitsCounted(s messages.Service, count uint64, size int64, sha string) messages.BitsCounted {
	return messages.BitsCounted{UploadID: "u", Service: s, Count: count, Size: size, SHA256: sha}
}

func TestTallyDecidesOnTheCountThatCompletesBoth(t *testing.T) {
	tally := messages.NewTally()
	if decided, err := tally.Record(bitsCounted(messages.Ones, 10, 2, "h")); decided || err != nil || tally.Decided() {
		t.Fatalf("decided on one count: %v %v", decided, err)
	}
	if decided, err := tally.Record(bitsCounted(messages.Zeros, 6, 2, "h")); !decided || err != nil {
		t.Fatalf("not decided on both counts: %v", err)
	}
	if !slices.Equal(tally.Keepers, []messages.Service{messages.Ones}) || *tally.ZeroBits != 6 || *tally.OneBits != 10 ||
		tally.Size != 2 || tally.SHA256 != "h" {
		t.Fatalf("tally %+v", tally)
	}
	if decided, err := tally.Record(bitsCounted(messages.Zeros, 16, 2, "h")); decided || err != nil || *tally.ZeroBits != 6 {
		t.Fatal("a count after the decision changed it")
	}
}

func TestTallyReportsCountsThatDisagree(t *testing.T) {
	tally := messages.NewTally()
	tally.Record(bitsCounted(messages.Zeros, 8, 2, "h"))
	before := tally
	_, err := tally.Record(bitsCounted(messages.Ones, 8, 3, "h"))
	var mismatch messages.CountMismatch
	if !errors.As(err, &mismatch) || mismatch.Detail == "" {
		t.Fatalf("a count of other bytes: %v", err)
	}
	if tally.OneBits != nil || tally.Size != before.Size || tally.Decided() {
		t.Fatalf("a disagreeing count was recorded: %+v", tally)
	}
	decided, err := tally.Record(bitsCounted(messages.Ones, 9, 2, "h"))
	if decided || !errors.As(err, &mismatch) || tally.Decided() || *tally.OneBits != 9 {
		t.Fatalf("8 + 9 bits for 2 bytes: decided %v, %v, %+v", decided, err, tally)
	}
}
