package http

import (
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/baum-store/baum/messages"
)

const headerCorrelationID = "X-Correlation-ID"

// correlate takes the request's X-Correlation-ID (a printable ASCII string
// of up to 128 characters) or makes one, answers with it and puts it into the
// request's context.
func (s *Server) correlate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(headerCorrelationID)
		if !validCorrelationID(id) {
			id = uuid.NewString()
		}
		w.Header().Set(headerCorrelationID, id)
		next.ServeHTTP(w, r.WithContext(messages.WithCorrelationID(r.Context(), id)))
	})
}

func validCorrelationID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	left   bool // the client left before its request was whole (see clientLeft)
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the server's own ReadFrom in reach, so that a download
// is sent with sendfile(2) rather than copied through user space.
func (r *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := io.Copy(r.ResponseWriter, src)
	r.bytes += n
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := ""
		if rc := chi.RouteContext(r.Context()); rc != nil {
			route = rc.RoutePattern()
		}
		status := rec.status
		switch {
		case rec.left || status == 0 && r.Context().Err() != nil:
			// The client went away before any answer: no status was sent;
			// 499 (nginx's "client closed request") says so. Or it ended its
			// side of the connection before its request was whole: it was
			// answered (it may still read), but it left all the same.
			status = statusClientClosed
		case status == 0:
			status = http.StatusOK // what net/http sends for a handler that wrote nothing
		}
		s.deps.Metrics.ObserveHTTP(route, r.Method, status, time.Since(start))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			return
		}
		s.deps.Log.InfoContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path,
			"status", status, "bytes", rec.bytes, "duration_ms", time.Since(start).Milliseconds(),
			"remote_addr", r.RemoteAddr, "user_agent", r.UserAgent())
	})
}

// statusClientClosed is logged (and counted) for a request whose client
// left before it was answered.
const statusClientClosed = 499

// clientLeft has the request logged and counted as 499 whatever it is
// answered: its client ended its side of the connection before the request
// was whole, and may be gone or may still read the answer.
func clientLeft(w http.ResponseWriter) {
	for {
		switch v := w.(type) {
		case *statusRecorder:
			v.left = true
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return
		}
	}
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.deps.Log.ErrorContext(r.Context(), "panic in HTTP handler", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, r, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
