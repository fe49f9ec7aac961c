package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The configuration table (docs/configuration.md) is exactly what `baum env`
// prints, so it cannot drift from the variables the binary reads.
func TestConfigurationTableIsTrue(t *testing.T) {
	page, err := os.ReadFile("docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	start, end := "<!-- env-table:start -->\n", "<!-- env-table:end -->"
	i, j := bytes.Index(page, []byte(start)), bytes.Index(page, []byte(end))
	if i < 0 || j < i {
		t.Fatal("docs/configuration.md has no env-table markers")
	}
	out, err := exec.Command("go", "run", "./cmd/baum", "env").Output()
	if err != nil {
		t.Fatalf("baum env: %v", err)
	}
	if got := string(page[i+len(start) : j]); got != string(out) {
		t.Errorf("docs/configuration.md's table differs from `baum env`; replace it with:\n%s", out)
	}
}

// The README gives the two commands a newcomer needs: run and test.
func TestReadmeHasTheRunAndTestCommands(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "go test -race -count=1 ./...") || !strings.Contains(string(readme), "go run ./cmd/baum dev") {
		t.Error("README lost its run or test command")
	}
}

// The test command the README gives (the code block of "Test it") is the
// very command CI runs, so passing it locally means what passing CI means.
func TestReadmeTestCommandIsWhatCIRuns(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Test it\n")
	if !ok {
		t.Fatal(`README has no "## Test it" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "```sh\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal(`README's "Test it" has no sh code block`)
	}
	command := strings.TrimSpace(block)
	if command == "" || strings.Contains(command, "\n") {
		t.Fatalf("README's test command should be one line, is %q", command)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ci), "\n") {
		if strings.TrimSpace(line) == command {
			return
		}
	}
	t.Errorf(".ci/run does not run the README's test command %q", command)
}
