package http

import (
	"context"
	"net/http"

	"github.com/baum-store/baum/handlers/http/api"
)

// deleteFile answers DELETE /data/{id}: it sends DeleteFile for this
// service on the command bus (the same command any Go program may send) and
// waits until the command handler has removed the file: 204 then, 404 if this
// service does not hold the file (so a second DELETE is a 404 that changes
// nothing), 202 if the wait ends first.
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	wait, err := s.waitFor(r)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if _, err := s.deps.App.Queries.File.Handle(ctx, id); err != nil {
		s.queryFailed(w, r, err)
		return
	}
	if err := s.deps.Readiness.Accepting(ctx); err != nil {
		writeError(w, r, http.StatusServiceUnavailable, "cannot delete now: "+err.Error())
		return
	}
	if err := s.deps.App.Commands.RequestDelete.Handle(ctx, id); err != nil {
		if ctx.Err() != nil {
			return // the client left; the command either went out or did not
		}
		s.deps.Log.ErrorContext(ctx, "delete failed: Kafka", "file_id", id, "error", err)
		writeError(w, r, http.StatusServiceUnavailable, "Kafka is unavailable; nothing was deleted, try again shortly")
		return
	}
	s.deps.Log.InfoContext(ctx, "delete requested", "file_id", id)

	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := s.deps.App.Queries.File.AwaitGone(waitCtx, id); err != nil {
		if ctx.Err() != nil {
			return // the client left; the delete goes on without it
		}
		w.Header().Set("Location", "/data/"+id)
		writeJSON(w, http.StatusAccepted, api.DeleteAccepted{ID: id, Service: s.deps.Self, State: "deleting", FileURL: "/data/" + id})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
