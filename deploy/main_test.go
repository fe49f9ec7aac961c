package deploy_test

import (
	"os"
	"testing"
)

// TestMain runs the checks from the repository root, where the files they
// check (docker-compose.yaml, Dockerfile, .env.example, README.md, docs/,
// deploy/) are found by the paths the compose file and the docs use.
func TestMain(m *testing.M) {
	if err := os.Chdir(".."); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
