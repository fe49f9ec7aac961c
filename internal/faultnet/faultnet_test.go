package faultnet_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/baum-store/baum/internal/faultnet"
)

// echo serves lines back to their sender.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// roundTrip sends a line and reads it back within d.
func (c *client) roundTrip(line string, d time.Duration) (string, error) {
	c.c.SetDeadline(time.Now().Add(d))
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

func TestProxyCutResetsAndRefusesUntilHealed(t *testing.T) {
	p, err := faultnet.NewProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before := dial(t, p.Addr())
	if got, err := before.roundTrip("hello", 5*time.Second); err != nil || got != "hello" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	p.Cut()
	if _, err := before.roundTrip("lost", 5*time.Second); err == nil {
		t.Error("a connection made before the cut still works")
	}
	during := dial(t, p.Addr()) // accepted, then reset
	if _, err := during.roundTrip("lost", 5*time.Second); err == nil {
		t.Error("a connection made during the cut works")
	}

	p.Heal()
	after := dial(t, p.Addr())
	if got, err := after.roundTrip("again", 5*time.Second); err != nil || got != "again" {
		t.Fatalf("after healing: %q, %v", got, err)
	}
}

func TestProxyStallHoldsTrafficUntilHealed(t *testing.T) {
	p, err := faultnet.NewProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p.Addr())
	if _, err := c.roundTrip("warm", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	p.Stall()
	if _, err := c.roundTrip("held", 300*time.Millisecond); err == nil {
		t.Fatal("traffic passed a stalled proxy")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("stalled: %v, want a timeout", err)
	}
	p.Heal()
	// The held line arrives now, then the next one.
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := c.r.ReadString('\n'); err != nil || got != "held\n" {
		t.Fatalf("after healing: %q, %v", got, err)
	}
	if got, err := c.roundTrip("next", 5*time.Second); err != nil || got != "next" {
		t.Fatalf("after healing: %q, %v", got, err)
	}
}

// A server's own listener under a Switch: what a client connects to
// directly is cut too.
func TestListenerCutsTheServersOwnConnections(t *testing.T) {
	s := faultnet.NewSwitch()
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	c := dial(t, ln.Addr().String())
	if _, err := c.roundTrip("one", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Cut()
	if _, err := c.roundTrip("two", 5*time.Second); err == nil {
		t.Error("works while cut")
	}
	s.Heal()
	if got, err := dial(t, ln.Addr().String()).roundTrip("three", 5*time.Second); err != nil || got != "three" {
		t.Fatalf("after healing: %q, %v", got, err)
	}
}
