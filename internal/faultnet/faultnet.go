// Package faultnet injects network faults for tests: a TCP proxy to put
// between a service and a server it needs (PostgreSQL), and a listener
// wrapper for servers that tell clients their own address (a Kafka broker
// advertises host:port in its metadata, so clients reconnect to it directly
// and a proxy in front of the bootstrap address alone would be bypassed).
//
// Both are driven by a Switch: Cut resets every connection and every new
// one (a crashed server, a firewall sending resets), Stall lets no byte
// through either way while connections stay open (a partition, a server
// that hangs), Heal restores traffic.
package faultnet

import (
	"errors"
	"io"
	"net"
	"sync"
)

// State is what a Switch does to traffic.
type State int

const (
	// Up passes traffic.
	Up State = iota
	// Cut closes every connection, and every new one as soon as it is accepted.
	Cut
	// Stalled holds every byte, both ways, until Heal (or Cut).
	Stalled
)

func (s State) String() string {
	switch s {
	case Cut:
		return "cut"
	case Stalled:
		return "stalled"
	}
	return "up"
}

// ErrCut is what a connection of a cut Switch fails with.
var ErrCut = errors.New("faultnet: connection cut")

// Switch controls the connections passing through it.
type Switch struct {
	mu     sync.Mutex
	state  State
	change chan struct{} // closed and replaced on every state change
	conns  map[*conn]struct{}
}

// NewSwitch returns a Switch that is Up.
func NewSwitch() *Switch {
	return &Switch{change: make(chan struct{}), conns: map[*conn]struct{}{}}
}

// State returns the current state.
func (s *Switch) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Cut closes every connection and refuses new ones until Heal.
func (s *Switch) Cut() {
	s.set(Cut)
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Stall holds all traffic until Heal or Cut.
func (s *Switch) Stall() { s.set(Stalled) }

// Heal lets traffic pass again.
func (s *Switch) Heal() { s.set(Up) }

func (s *Switch) set(state State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = state
	close(s.change)
	s.change = make(chan struct{})
}

// pass waits while the Switch is stalled; it fails once it is cut.
func (s *Switch) pass(c *conn) error {
	for {
		s.mu.Lock()
		state, change := s.state, s.change
		s.mu.Unlock()
		switch state {
		case Up:
			return nil
		case Cut:
			return ErrCut
		}
		select {
		case <-change:
		case <-c.closed:
			return net.ErrClosed
		}
	}
}

// Wrap puts c under the Switch's control. If the Switch is cut, c is closed
// and Wrap returns nil.
func (s *Switch) Wrap(c net.Conn) net.Conn {
	wc := &conn{Conn: c, s: s, closed: make(chan struct{})}
	s.mu.Lock()
	if s.state == Cut {
		s.mu.Unlock()
		c.Close()
		return nil
	}
	s.conns[wc] = struct{}{}
	s.mu.Unlock()
	return wc
}

// conn is a connection under a Switch.
type conn struct {
	net.Conn
	s      *Switch
	once   sync.Once
	closed chan struct{}
}

// Read returns what arrived only once the Switch lets it through.
func (c *conn) Read(p []byte) (int, error) {
	if err := c.s.pass(c); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if perr := c.s.pass(c); perr != nil {
		c.Close()
		return 0, perr
	}
	return n, err
}

// Write sends only while the Switch lets it through.
func (c *conn) Write(p []byte) (int, error) {
	if err := c.s.pass(c); err != nil {
		c.Close()
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		// A reset, not a polite FIN: what a peer sees when a server dies or
		// a firewall drops the connection.
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		err = c.Conn.Close()
	})
	return err
}

// Listener is a net.Listener whose connections a Switch controls.
type Listener struct {
	net.Listener
	s *Switch
}

// Listen listens like net.Listen, under the Switch. Its signature fits
// kfake.ListenFn.
func (s *Switch) Listen(network, address string) (net.Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &Listener{Listener: l, s: s}, nil
}

// Accept returns the next connection the Switch lets in.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if wc := l.s.Wrap(c); wc != nil {
			return wc, nil
		}
	}
}

// Proxy forwards every connection made to its address to a target address,
// under a Switch.
type Proxy struct {
	*Switch
	ln     net.Listener
	target string
	wg     sync.WaitGroup
}

// NewProxy starts a proxy on a free port of 127.0.0.1 to target (host:port).
func NewProxy(target string) (*Proxy, error) {
	s := NewSwitch()
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Switch: s, ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.Switch.Cut()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(client)
		}()
	}
}

func (p *Proxy) forward(client net.Conn) {
	defer client.Close()
	raw, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	server := p.Switch.Wrap(raw)
	if server == nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(server, client); done <- struct{}{} }()
	go func() { io.Copy(client, server); done <- struct{}{} }()
	<-done // one side ended: end both
}
