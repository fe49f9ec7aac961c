package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The README's configuration table is exactly what `baum env` prints, so it
// cannot drift from the variables the binary reads.
func TestReadmeConfigurationTableIsTrue(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	start, end := "<!-- env-table:start -->\n", "<!-- env-table:end -->"
	i, j := bytes.Index(readme, []byte(start)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatal("README has no env-table markers")
	}
	out, err := exec.Command("go", "run", "./cmd/baum", "env").Output()
	if err != nil {
		t.Fatalf("baum env: %v", err)
	}
	if got := string(readme[i+len(start) : j]); got != string(out) {
		t.Errorf("README table differs from `baum env`; replace it with:\n%s", out)
	}
	if !strings.Contains(string(readme), "go test -race -count=1 ./...") || !strings.Contains(string(readme), "go run ./cmd/baum dev") {
		t.Error("README lost its run or test command")
	}
}
