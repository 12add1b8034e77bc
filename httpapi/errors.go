package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/eventcoord/eventcoord"
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
	msgNoWaiter = "No such waiter: it was not registered with this API key, or it was taken, cancelled or expired"
)

// StatusClientClosed is the status of a wait whose client closed its side
// of the connection before the event came: 499, "Client Closed Request", as
// nginx logs it. It is not a standard status; eventd uses it so that the
// request metrics tell such waits apart from answered ones, and writes it
// as the answer too, for a client that only half-closed and still reads.
const StatusClientClosed = 499

// ErrorHeader is the answer header that names the kind of an error, one of
// the Kind constants, for clients that map errors to Go values (package
// client does). It is sent on the error answers of eventd's own routes and
// of requests that send [ExtensionsHeader]; answers to Anchor's requests
// stay as Anchor's.
const ErrorHeader = "Eventcoord-Error"

// Kinds of error, the values of [ErrorHeader]: each names the eventcoord
// error the answer stands for.
const (
	KindInvalidName  = "invalid_name"   // eventcoord.ErrInvalidName; the message is "Invalid event name…: " and the reason
	KindTooManyNames = "too_many_names" // eventcoord.ErrTooManyNames
	KindDataRequired = "data_required"  // eventcoord.ErrDataRequired
	KindBadListLimit = "bad_list_limit" // eventcoord.ErrBadListLimit
	KindClosed       = "closed"         // eventcoord.ErrClosed: the server is shutting down or its Coordinator is closed
	KindUnavailable  = "unavailable"    // eventcoord.ErrUnavailable: the event store (Redis) cannot be reached
	KindNoWaiter     = "no_waiter"      // no registration of that id in the key's scope
)

// apiError is an error answer: its HTTP status, its message and, for
// errors that stand for an eventcoord error, its kind.
type apiError struct {
	status  int
	message string
	kind    string // one of the Kind constants, or ""
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, message string) *apiError { return &apiError{status: status, message: message} }

// kinded returns e with its kind set.
func kinded(kind string, e *apiError) *apiError {
	e.kind = kind
	return e
}

// backendError maps an error of an eventcoord.Events method to its
// answer; failed is the message of a failure it does not know. It is the
// one table from the root package's errors to statuses.
func backendError(err error, failed string) *apiError {
	if ne, ok := errors.AsType[*eventcoord.NameError](err); ok {
		return kinded(KindInvalidName, errorf(http.StatusBadRequest, "Invalid event name: "+ne.Reason))
	}
	switch {
	case errors.Is(err, eventcoord.ErrInvalidName): // a backend's own error that wraps the sentinel only
		return kinded(KindInvalidName, errorf(http.StatusBadRequest, "Invalid event name"))
	case errors.Is(err, eventcoord.ErrTooManyNames):
		return kinded(KindTooManyNames, errorf(http.StatusBadRequest, msgTooManyNames))
	case errors.Is(err, eventcoord.ErrDataRequired):
		return kinded(KindDataRequired, errorf(http.StatusBadRequest, msgDataRequired))
	case errors.Is(err, eventcoord.ErrBadListLimit):
		return kinded(KindBadListLimit, errorf(http.StatusBadRequest, msgBadLimit))
	case errors.Is(err, eventcoord.ErrClosed):
		return shuttingDown()
	case errors.Is(err, eventcoord.ErrUnavailable):
		return kinded(KindUnavailable, errorf(http.StatusServiceUnavailable, failed+": the event store is unavailable"))
	}
	return errorf(http.StatusInternalServerError, failed)
}

func shuttingDown() *apiError {
	return kinded(KindClosed, errorf(http.StatusServiceUnavailable, msgShuttingDown))
}

func noWaiter() *apiError { return kinded(KindNoWaiter, errorf(http.StatusNotFound, msgNoWaiter)) }

type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError writes e, with its kind in ErrorHeader if r is extended (see
// extended).
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	if e.kind != "" && extended(r) {
		w.Header().Set(ErrorHeader, e.kind)
	}
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
