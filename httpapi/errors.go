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

// eventd's own messages.
const (
	msgClientClosed = "The client closed its side of the connection before the event came, which ends the wait " +
		"(a half-close cannot be told from a disconnect): keep the connection open until the answer arrives"
	msgNotCanonical = "Not found: paths are matched as sent, without empty, . or .. segments " +
		"(escape an event name made of dots, such as . or .., with %2E)"
)

// StatusClientClosed is the status of a wait whose client closed its side
// of the connection before the event came: 499, "Client Closed Request", as
// nginx logs it. It is not a standard status; eventd uses it so that the
// request metrics tell such waits apart from answered ones, and writes it
// as the answer too, for a client that only half-closed and still reads.
const StatusClientClosed = 499

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
