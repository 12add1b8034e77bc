package httpapi

import (
	"encoding/json"
	"net/http"
)

// Anchor's own messages, for the statuses its docs name.
const (
	msgDataRequired = "Event data is required"
	msgInvalidKey   = "Invalid API key"
	msgTimeout      = "Event was not signaled within the specified timeout"
	msgSignalFailed = "Failed to signal event"
	msgShuttingDown = "Server is shutting down"
)

// apiError is an error answer: its HTTP status and its message.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, message string) *apiError { return &apiError{status, message} }

type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var b errorBody
	b.Error.Code, b.Error.Message = e.status, e.message
	writeJSON(w, e.status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The client may be gone; nothing useful can be done about a failed write.
	_ = json.NewEncoder(w).Encode(v)
}
