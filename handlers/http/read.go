package http

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/baum-store/baum/app/domain"
)

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
