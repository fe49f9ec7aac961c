package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneGCSetsDefaultsUnlessTheOperatorDid: without GOGC and GOMEMLIMIT a
// BAUM process collects at GOGC=400 under a soft memory limit; with them,
// Go's own settings stand.
func TestTuneGCSetsDefaultsUnlessTheOperatorDid(t *testing.T) {
	gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) }()

	tuneGC(func(string) string { return "" }, 40<<20)
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC %d, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != 40<<20 {
		t.Errorf("memory limit %d, want %d", got, 40<<20)
	}

	set := map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}
	tuneGC(func(k string) string { return set[k] }, 40<<20)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d after the operator chose 100", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("memory limit %d after the operator chose one", got)
	}
}
