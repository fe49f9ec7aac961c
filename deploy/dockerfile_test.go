package deploy_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/mod/modfile"
)

// instruction is one Dockerfile instruction as BuildKit's own parser reads
// it (line continuations, JSON and shell forms, flags).
type instruction struct {
	cmd   string // upper case: FROM, RUN, …
	flags []string
	args  []string
	json  bool
	line  int
}

// stage is one FROM and what follows it.
type stage struct {
	base, name string
	flags      []string
	body       []instruction
}

func parseDockerfile(t testing.TB, file string) []stage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", file, w.Short)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToUpper(n.Value), flags: n.Flags, json: n.Attributes["json"], line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "FROM" {
			s := stage{base: in.args[0], flags: in.flags}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "AS") {
				s.name = in.args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", file, in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages: the build must be multi-stage, so the toolchain stays out of the image", len(stages))
	}
	for _, s := range stages {
		if strings.Contains(s.base, "$") {
			t.Errorf("FROM %s: base images are literal, so they can be checked and pinned", s.base)
		}
		checkPinned(t, "FROM", s.base)
	}

	build, final := stages[0], stages[len(stages)-1]
	// The Go image is the toolchain go.mod asks for: the official image sets
	// GOTOOLCHAIN=local, so an older one cannot build the module at all.
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "golang:" + mf.Go.Version + "-"; !strings.HasPrefix(build.base, want) && build.base != strings.TrimSuffix(want, "-") {
		t.Errorf("build stage FROM %s; go.mod says go %s: use golang:%s", build.base, mf.Go.Version, mf.Go.Version)
	}
	if strings.HasPrefix(final.base, "golang:") {
		t.Errorf("the final image is the Go toolchain (%s), not a small base", final.base)
	}

	// How the binary is built.
	var goBuild string
	for _, in := range build.all("RUN") {
		if cmd := strings.Join(in.args, " "); strings.Contains(cmd, "go build") {
			goBuild = cmd
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/baum", "-trimpath"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build %q lacks %s", goBuild, want)
		}
	}
	// The bit-counting kernels are chosen at run time; GOAMD64 above v1
	// would only make the image fail on older CPUs, purego would drop them.
	if m := regexp.MustCompile(`GOAMD64=(\S+)`).FindStringSubmatch(goBuild); m != nil && m[1] != "v1" {
		t.Errorf("GOAMD64=%s: the image would not start on CPUs below %s; app/bits picks AVX2/AVX-512 at run time anyway", m[1], m[1])
	}
	if strings.Contains(goBuild, "purego") {
		t.Error("the purego tag removes the assembly bit-counting kernels")
	}

	// The final image: the binary from the build stage, a non-root user, a
	// health check on /readyz, baum as the entry point.
	copied := false
	for _, in := range final.all("COPY") {
		if contains(in.flags, "--from="+build.name) && in.args[len(in.args)-1] == "/usr/local/bin/baum" {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the final stage does not copy the binary from stage %q to /usr/local/bin/baum", build.name)
	}
	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("the final stage has no USER: it would run as root")
	}
	user := strings.Split(users[len(users)-1].args[0], ":")[0]
	if user == "root" || user == "0" || user == "" {
		t.Errorf("USER %s is root", users[len(users)-1].args[0])
	}
	hc := final.all("HEALTHCHECK")
	if len(hc) != 1 || !hc[0].json || strings.Join(hc[0].args, " ") != "CMD baum health" {
		t.Errorf("HEALTHCHECK %+v, want CMD [\"baum\", \"health\"]", hc)
	}
	if ep := final.all("ENTRYPOINT"); len(ep) != 1 || !ep[0].json || strings.Join(ep[0].args, " ") != "baum" {
		t.Errorf("ENTRYPOINT %+v, want [\"baum\"]", ep)
	}
	if cmd := final.all("CMD"); len(cmd) != 1 || strings.Join(cmd[0].args, " ") != "serve" {
		t.Errorf("CMD %+v, want [\"serve\"]", cmd)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The build context keeps every file the build reads: .dockerignore
// excludes nothing that `go build ./cmd/baum` compiles or embeds.
func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	f, err := os.Open(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var patterns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") || strings.Contains(line, "**") {
			t.Fatalf(".dockerignore: %q: keep to plain patterns, which this test can check", line)
		}
		patterns = append(patterns, strings.TrimPrefix(path.Clean(line), "/"))
	}
	ignored := func(file string) string {
		// A path is excluded if it or a folder above it matches a pattern.
		for p := file; p != "." && p != "/"; p = path.Dir(p) {
			for _, pat := range patterns {
				if ok, _ := path.Match(pat, p); ok {
					return pat
				}
			}
		}
		return ""
	}

	out, err := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,SFiles,EmbedFiles,HFiles", "./cmd/baum").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := os.Getwd()
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			Dir                                 string
			Module                              *struct{ Main bool }
			GoFiles, SFiles, EmbedFiles, HFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, _ := filepath.Rel(root, p.Dir)
		for _, list := range [][]string{p.GoFiles, p.SFiles, p.EmbedFiles, p.HFiles} {
			for _, name := range list {
				files = append(files, filepath.ToSlash(filepath.Join(rel, name)))
			}
		}
	}
	if len(files) < 20 {
		t.Fatalf("only %d files found: go list output not understood", len(files))
	}
	for _, file := range files {
		if pat := ignored(file); pat != "" {
			t.Errorf(".dockerignore pattern %q drops %s, which the build needs", pat, file)
		}
	}
	for _, want := range []string{".git", ".env", "data"} {
		if ignored(want) == "" {
			t.Errorf(".dockerignore lets %s into the build context", want)
		}
	}
}
