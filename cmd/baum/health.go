package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

// healthCmd asks a service's /readyz and exits 0 only on 200. It is the
// container health check (docker-compose.yaml, the Dockerfile's HEALTHCHECK):
// the image has no curl, and the address comes from the same BAUM_HTTP_ADDR
// the service listens on, so one command fits both roles.
func healthCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: baum health [flags] [URL]\n\nExits 0 if URL answers 200, else 1. URL defaults to /readyz on the port of\n$BAUM_HTTP_ADDR (or of $BAUM_ROLE's default port) on 127.0.0.1.")
		fs.PrintDefaults()
	}
	timeout := fs.Duration("timeout", 4*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 1 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(1))}
	}
	target := fs.Arg(0)
	if target == "" {
		var err error
		if target, err = readyURL(getenv); err != nil {
			return usageError{err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usageError{err}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %s", target, res.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, strings.TrimSpace(string(body)))
	return nil
}

// readyURL is /readyz on the loopback address at the port the service
// listens on.
func readyURL(getenv func(string) string) (string, error) {
	addr := getenv("BAUM_HTTP_ADDR")
	if addr == "" {
		role, err := messages.ParseService(getenv("BAUM_ROLE"))
		if err != nil {
			role = messages.Zeros
		}
		addr = fmt.Sprintf(":%d", service.DefaultPort(role))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("BAUM_HTTP_ADDR=%q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
