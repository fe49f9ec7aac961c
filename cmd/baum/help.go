package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
)

// commands are the commands run dispatches, for `baum help CMD`.
var commands = []string{"dev", "serve", "broker", "env", "topics", "health", "send", "ls", "get", "rm"}

// helpCmd prints the usage (no argument) or one command's usage and flags
// (`baum help send` is `baum send -h`) on stdout, and succeeds.
func helpCmd(args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	switch {
	case len(args) == 0 || args[0] == "help":
		fmt.Fprint(stdout, usage)
		return nil
	case len(args) > 1:
		return usagef("help: name one command")
	case !slices.Contains(commands, args[0]):
		return usagef("help: unknown command %q (commands: %s)", args[0], strings.Join(commands, ", "))
	}
	err := run([]string{args[0], "-h"}, getenv, stdin, stdout, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// versionCmd prints the version of this binary: its module version, the
// commit it was built from (when built in a checkout) and the Go release.
func versionCmd(stdout io.Writer) error {
	fmt.Fprintln(stdout, "baum", version())
	return nil
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	parts := []string{or(info.Main.Version, "(devel)")}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += "+modified"
		}
		parts = append(parts, "commit "+rev)
		if at := settings["vcs.time"]; at != "" {
			parts = append(parts, at)
		}
	}
	return strings.Join(append(parts, info.GoVersion), " ")
}
