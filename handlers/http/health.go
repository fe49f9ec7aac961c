package http

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"
)

// healthz answers GET /healthz: the process is alive.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": string(s.deps.Self)})
}

// readyz answers GET /readyz: 200 when the database, Kafka and the message
// router all work, else 503 naming what does not.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.deps.Ready))
	for name := range s.deps.Ready {
		names = append(names, name)
	}
	sort.Strings(names)
	results := make(map[string]string, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready := true
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := "ok"
			if err := s.deps.Ready[name](ctx); err != nil {
				status = err.Error()
			}
			mu.Lock()
			results[name] = status
			if status != "ok" {
				ready = false
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if !ready {
		writeErrorDetails(w, r, http.StatusServiceUnavailable, "not ready", results)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "service": string(s.deps.Self), "checks": results})
}
