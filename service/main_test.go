package service_test

import (
	"os"
	"testing"
)

// TestMain runs the tests from the repository root, where the files they
// read (README, docs/, examples/) and the packages they build are found by
// the paths a reader of the README would type.
func TestMain(m *testing.M) {
	if err := os.Chdir(".."); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
