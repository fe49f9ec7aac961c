package deploy_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The size limits of the main module's code, tests and generated code
// aside: a newcomer reads a function whole and a file in one sitting.
const (
	maxFuncLines = 60
	maxFileLines = 400
)

func TestNoFunctionOrFileIsTooLong(t *testing.T) {
	sizes := codeSizes(t)
	if len(sizes.files) < 50 {
		t.Fatalf("only %d Go files found: not run from the repository root?", len(sizes.files))
	}
	var over []string
	for _, name := range slices.Sorted(maps.Keys(sizes.lines)) {
		if limit := limitOf(name); sizes.lines[name] > limit {
			over = append(over, fmt.Sprintf("%s: %d lines (limit %d)", name, sizes.lines[name], limit))
		}
	}
	if len(over) > 0 {
		t.Errorf("over the limits; split these by meaning (parse, build, run, report):\n\t%s", strings.Join(over, "\n\t"))
	}
}

// limitOf is the limit of a function ("file: name") or a file.
func limitOf(name string) int {
	if strings.Contains(name, ": ") {
		return maxFuncLines
	}
	return maxFileLines
}

// sizes are the line counts of the main module's files ("dir/file.go") and
// functions ("dir/file.go: Recv.name"), from the func keyword to the closing
// brace (the doc comment is not counted).
type sizes struct {
	files []string
	lines map[string]int
}

// codeSizes parses every .go file of the main module but its tests, its
// generated files (ast.IsGenerated: the "// Code generated … DO NOT EDIT."
// header), testdata, and the other modules (deploy/ and any folder with a
// go.mod of its own).
func codeSizes(t *testing.T) sizes {
	t.Helper()
	s := sizes{lines: map[string]int{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return skipDir(path, d)
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		name := filepath.ToSlash(path)
		s.files = append(s.files, name)
		s.lines[name] = fset.File(f.Pos()).LineCount()
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok {
				lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
				s.lines[name+": "+funcName(fn)] = lines
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// skipDir leaves out what is not the main module's code: hidden and
// underscore folders and testdata (the go tool ignores them too), deploy/
// and any other folder that is a module of its own.
func skipDir(path string, d fs.DirEntry) error {
	if path == "." {
		return nil
	}
	name := d.Name()
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || path == "deploy" {
		return filepath.SkipDir
	}
	if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
		return filepath.SkipDir
	}
	return nil
}

// funcName is "name" for a function, "Recv.name" for a method.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	recv := fn.Recv.List[0].Type
	for {
		switch r := recv.(type) {
		case *ast.StarExpr:
			recv = r.X
		case *ast.IndexExpr: // a generic type's method
			recv = r.X
		case *ast.IndexListExpr:
			recv = r.X
		case *ast.Ident:
			return r.Name + "." + fn.Name.Name
		default:
			return fmt.Sprintf("(%T).%s", r, fn.Name.Name)
		}
	}
}
