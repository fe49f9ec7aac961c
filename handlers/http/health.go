package http

import (
	"context"
	"net/http"
	"time"
)

// healthz answers GET /healthz: the process is alive.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": string(s.deps.Self), "instance": s.deps.Instance})
}

// readyz answers GET /readyz: 200 when every readiness check passes (the
// database, Kafka, the message router, storage), else 503 naming what does
// not.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	results, ready := s.deps.Readiness.Ready(ctx)
	if !ready {
		writeErrorDetails(w, r, http.StatusServiceUnavailable, "not ready", results)
		return
	}
	body := map[string]any{"status": "ready", "service": string(s.deps.Self), "instance": s.deps.Instance, "checks": results}
	if l, ok := s.deps.Readiness.(LagReporter); ok {
		// How far behind the service is tells an operator more than "ready":
		// a ready service may still be working off a backlog.
		if lag, err := l.ConsumerLag(ctx); err == nil {
			body["consumer_lag"] = lag
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// LagReporter is a Readiness that also knows how far the service's
// consumer groups are behind: the messages each has not committed yet.
type LagReporter interface {
	ConsumerLag(ctx context.Context) (map[string]int64, error)
}
