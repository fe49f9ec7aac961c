package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/baum-store/baum/messages"
)

// Exit codes, for scripts. Documented in docs/sending.md and in `baum help`.
const (
	exitOK           = 0
	exitFailure      = 1 // anything else: Kafka or a service unreachable, a file unreadable, a bad answer
	exitUsage        = 2 // a mistake on the command line
	exitNotFound     = 3 // get, rm: no service holds the id
	exitUploadFailed = 4 // send: the services gave an upload up (checksum mismatch, storage full, …)
	exitNotSettled   = 5 // send: sent, but not placed within --wait; rm: not confirmed within --wait
)

// usageError is a mistake on the command line.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errNotFound: no service holds the file.
var errNotFound = errors.New("not found")

// fileErrors are the failures of a command that handles many files, each
// already reported as it happened. The exit code is the worst of them.
type fileErrors struct {
	errs  []error
	total int
}

func (e fileErrors) Error() string {
	return fmt.Sprintf("%d of %d files did not make it", len(e.errs), e.total)
}

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var many fileErrors
	if errors.As(err, &many) {
		code := exitOK
		for _, e := range many.errs {
			code = worse(code, exitCode(e))
		}
		return code
	}
	var u usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK // -h asked for the usage, and got it (as Go's flag package exits)
	case errors.As(err, &u):
		return exitUsage
	case errors.Is(err, errNotFound):
		return exitNotFound
	case errors.Is(err, messages.ErrUploadFailed):
		return exitUploadFailed
	case errors.Is(err, messages.ErrNotSettled), errors.Is(err, messages.ErrNotConfirmed):
		return exitNotSettled
	}
	return exitFailure
}

// worse returns the more serious of two exit codes: a plain failure outranks
// a failed upload, which outranks one not yet settled.
func worse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitNotFound: 1, exitNotSettled: 2, exitUploadFailed: 3, exitFailure: 4, exitUsage: 5}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
