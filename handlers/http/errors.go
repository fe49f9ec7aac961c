package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// errorBody is every error's JSON shape: {"error": "...", "status": 400, ...}.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
	// CorrelationID lets a user quote the failing request to an operator.
	CorrelationID string `json:"correlation_id,omitempty"`
	// Details says more where there is more to say (e.g. which check failed).
	Details any `json:"details,omitempty"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeErrorDetails(w, r, status, msg, nil)
}

func writeErrorDetails(w http.ResponseWriter, r *http.Request, status int, msg string, details any) {
	writeJSON(w, status, errorBody{Error: msg, Status: status, CorrelationID: w.Header().Get(headerCorrelationID), Details: details})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(body); err != nil {
		slog.Debug("cannot write response", "error", err)
	}
}
