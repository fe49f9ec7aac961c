package http

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/handlers/http/api"
)

// listFiles answers GET /data.
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	q := query.ListFiles{After: r.URL.Query().Get("after")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > query.MaxLimit {
			writeError(w, r, http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d", query.MaxLimit))
			return
		}
		q.Limit = n
	}
	if q.After != "" {
		var ok bool
		if q.After, ok = canonicalID(q.After); !ok {
			writeError(w, r, http.StatusBadRequest, "after must be a file id (a UUID) from a previous page's next")
			return
		}
	}
	page, err := s.deps.App.Queries.ListFiles.Handle(r.Context(), q)
	if err != nil {
		s.queryFailed(w, r, err)
		return
	}
	view := api.FileList{TotalSize: page.Totals.TotalSize, Count: page.Totals.Count, ListMetadata: make(map[string]api.File, len(page.Files))}
	for _, f := range page.Files {
		view.ListMetadata[f.ID] = newFileView(f)
	}
	if page.Next != "" {
		view.Next = &page.Next
	}
	writeJSON(w, http.StatusOK, view)
}

// getFile answers GET /data/{id}.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	f, err := s.deps.App.Queries.File.Handle(r.Context(), id)
	if err != nil {
		s.queryFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newFileView(f))
}

// getUpload answers GET /data/uploads/{id}.
func (s *Server) getUpload(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	u, err := s.deps.App.Queries.Upload.Handle(r.Context(), id)
	if err != nil {
		s.queryFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newUploadView(u))
}

// pathID returns the {id} of the path in canonical form, or answers 400.
func pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	raw := chi.URLParam(r, "id")
	id, ok := canonicalID(raw)
	if !ok {
		writeError(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not an id (ids are UUIDs)", truncate(raw, 64)))
		return "", false
	}
	return id, true
}

// canonicalID accepts a UUID in its 8-4-4-4-12 form, in any case (RFC 9562
// compares them case-insensitively), and returns it lowercase, the form ids
// are issued and kept in.
func canonicalID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", false
	}
	return u.String(), true
}

func (s *Server) queryFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "this service holds no such file or upload")
	case errors.Is(err, domain.ErrUnavailable):
		writeError(w, r, http.StatusServiceUnavailable, "the database is unavailable; try again shortly")
	default:
		s.deps.Log.ErrorContext(r.Context(), "query failed", "path", r.URL.Path, "error", err)
		writeError(w, r, http.StatusInternalServerError, "internal error")
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
