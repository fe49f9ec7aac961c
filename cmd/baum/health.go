package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
		fmt.Fprintln(fs.Output(), "Usage: baum health [flags] [URL]\n\nExits 0 if URL answers 200, else 1. URL is a service's base URL\n(http://host:8000, asked for /readyz) or the full URL to ask; it defaults to\n/readyz on the port of $BAUM_HTTP_ADDR (or of $BAUM_ROLE's default port) on\n127.0.0.1.")
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
	target, err := healthURL(fs.Arg(0), getenv)
	if err != nil {
		return usageError{err}
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

// healthURL is the URL to ask: arg as given if it names a path, /readyz of
// it if it is a service's base URL, or readyURL without one.
func healthURL(arg string, getenv func(string) string) (string, error) {
	if arg == "" {
		return readyURL(getenv)
	}
	u, err := url.Parse(arg)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http:// or https:// URL", arg)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/readyz"
	}
	return u.String(), nil
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
