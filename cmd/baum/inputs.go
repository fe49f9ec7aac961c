package main

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// input is one file to send.
type input struct {
	path  string // as given, or found in a directory; "-" for standard input
	name  string // the name to store
	size  int64  // -1 if unknown until read
	stdin bool
}

// collectInputs expands the arguments into files. Arguments that cannot be
// read are returned as errors; the others are still sent. total is the
// bytes of all inputs, -1 if some input's size is unknown until read.
func collectInputs(paths []string, name string) (inputs []input, total int64, errs []error) {
	var set inputSet
	for _, p := range paths {
		set.addPath(p, name)
	}
	return set.inputs, set.total, set.errs
}

// inputSet gathers the inputs of a send.
type inputSet struct {
	inputs []input
	total  int64 // -1 once an input's size is unknown
	errs   []error
}

func (s *inputSet) add(in input) {
	s.inputs = append(s.inputs, in)
	if in.size < 0 || s.total < 0 {
		s.total = -1
	} else {
		s.total += in.size
	}
}

func (s *inputSet) fail(err error) { s.errs = append(s.errs, collectError{err}) }

// addPath adds one argument: standard input, a file, or a directory with
// everything in it, stored under name if given.
func (s *inputSet) addPath(p, name string) {
	if p == "-" {
		s.add(input{path: "-", name: or(name, "stdin"), size: -1, stdin: true})
		return
	}
	info, err := os.Stat(p)
	if err != nil {
		s.fail(err)
		return
	}
	if !info.IsDir() {
		size := info.Size()
		if !info.Mode().IsRegular() {
			size = -1 // a pipe or a device: read to its end
		}
		s.add(input{path: p, name: or(name, filepath.Base(p)), size: size})
		return
	}
	if err := filepath.WalkDir(p, func(file string, d fs.DirEntry, err error) error {
		s.addFound(p, name, file, d, err)
		return nil
	}); err != nil {
		s.fail(err)
	}
}

// addFound adds a file found in directory dir, named by its path inside
// dir (under name, if given).
func (s *inputSet) addFound(dir, name, file string, d fs.DirEntry, err error) {
	if err != nil {
		s.fail(err)
		return
	}
	if d.IsDir() {
		return
	}
	info, err := os.Stat(file) // follows a symbolic link
	if err != nil {
		s.fail(err)
		return
	}
	if !info.Mode().IsRegular() {
		return // sockets, devices, links to directories: not files to store
	}
	rel, _ := filepath.Rel(dir, file)
	n := filepath.ToSlash(rel)
	if name != "" {
		n = path.Join(name, n)
	}
	s.add(input{path: file, name: n, size: info.Size()})
}

// collectError is an argument that could not be read.
type collectError struct{ error }

func (e collectError) Unwrap() error { return e.error }

func countCollectErrors(errs []error) int {
	n := 0
	for _, err := range errs {
		if errors.As(err, new(collectError)) {
			n++
		}
	}
	return n
}

func countStdin(inputs []input) int {
	n := 0
	for _, in := range inputs {
		if in.stdin {
			n++
		}
	}
	return n
}
