package http

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/baum-store/baum/handlers/http/api"
)

func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeErrorDetails(w, r, status, msg, nil)
}

func writeErrorDetails(w http.ResponseWriter, r *http.Request, status int, msg string, details any) {
	writeJSON(w, status, api.Error{Error: msg, Status: status, CorrelationID: w.Header().Get(headerCorrelationID), Details: details})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(body); err != nil {
		slog.Debug("cannot write response", "error", err)
	}
}
