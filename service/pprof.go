package service

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Profiler serves Go's profiling endpoints (/debug/pprof/) on an address of
// its own, apart from the public API: CPU, heap, goroutine and mutex
// profiles of a running service or broker, e.g. during a large upload
// (`go tool pprof http://ADDR/debug/pprof/profile?seconds=10`). Bind it to a
// private address; profiles show internals.
type Profiler struct {
	server   *http.Server
	listener net.Listener
}

// StartProfiler listens on addr and serves the profiles until Close.
func StartProfiler(addr string, log *slog.Logger) (*Profiler, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("profiler: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &Profiler{server: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, listener: l}
	go p.server.Serve(l)
	if log != nil {
		log.Info("profiler listening", "addr", p.Addr())
	}
	return p, nil
}

// Addr is where the profiler listens.
func (p *Profiler) Addr() string { return p.listener.Addr().String() }

// Close stops the profiler.
func (p *Profiler) Close() error { return p.server.Close() }
