package messages_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/baum-store/baum/messages"
)

func TestTallyDecidesOnTheCountThatCompletesBoth(t *testing.T) {
	tally := messages.NewTally()
	ones := messages.BitsCounted{UploadID: "u", Service: messages.Ones, Bit: "one", Count: 10, Size: 2, SHA256: "h"}
	zeros := messages.BitsCounted{UploadID: "u", Service: messages.Zeros, Bit: "zero", Count: 6, Size: 2, SHA256: "h"}
	if decided, err := tally.Record(ones); decided || err != nil || tally.Decided() {
		t.Fatalf("decided on one count: %v %v", decided, err)
	}
	if decided, err := tally.Record(zeros); !decided || err != nil {
		t.Fatalf("not decided on both counts: %v", err)
	}
	if !slices.Equal(tally.Keepers, []messages.Service{messages.Ones}) || *tally.ZeroBits != 6 || *tally.OneBits != 10 ||
		tally.Size != 2 || tally.SHA256 != "h" {
		t.Fatalf("tally %+v", tally)
	}
	zeros.Count = 16
	if decided, err := tally.Record(zeros); decided || err != nil || *tally.ZeroBits != 6 {
		t.Fatal("a count after the decision changed it")
	}
}

func TestTallyReportsCountsThatDisagree(t *testing.T) {
	tally := messages.NewTally()
	tally.Record(messages.BitsCounted{UploadID: "u", Service: messages.Zeros, Bit: "zero", Count: 8, Size: 2, SHA256: "h"})
	ones := messages.BitsCounted{UploadID: "u", Service: messages.Ones, Bit: "one", Count: 8, Size: 3, SHA256: "h"}
	_, err := tally.Record(ones)
	var mismatch messages.CountMismatch
	if !errors.As(err, &mismatch) || mismatch.Detail == "" {
		t.Fatalf("a count of other bytes: %v", err)
	}
	if tally.OneBits != nil || tally.Size != 2 || tally.Decided() {
		t.Fatalf("a disagreeing count was recorded: %+v", tally)
	}
	ones.Size, ones.Count = 2, 9
	decided, err := tally.Record(ones)
	if decided || !errors.As(err, &mismatch) || tally.Decided() || *tally.OneBits != 9 {
		t.Fatalf("8 + 9 bits for 2 bytes: decided %v, %v, %+v", decided, err, tally)
	}
}
