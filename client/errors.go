package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/eventcoord/eventcoord"
)

var (
	// ErrUnauthorized matches (with errors.Is) the API's 401: a missing or
	// unknown API key.
	ErrUnauthorized = errors.New("client: invalid API key")
	// ErrRegistrationLost is returned by the Wait of a Registration the
	// server no longer holds although the client did not cancel it: its
	// lease passed while the client could not reach the server, or the
	// server restarted. A signal sent meanwhile may have been missed.
	ErrRegistrationLost = errors.New("client: the server no longer holds the registration")
)

// APIError is an answer of the API other than 200.
//
// errors.Is matches a 408 to context.DeadlineExceeded (the wait timed
// out), a 401 to ErrUnauthorized and a 503 to eventcoord.ErrUnavailable.
// When eventd names the kind of error (Kind), Unwrap returns the
// eventcoord error it stands for: a *eventcoord.NameError for an invalid
// name, eventcoord.ErrClosed when the server is shutting down (also a
// 503: the server is closed, and the service may come back), and so on.
type APIError struct {
	StatusCode int    // the HTTP status
	Code       int    // the code in the error body, usually the status
	Message    string // the message in the error body
	Kind       string // eventd's kind of error (its Eventcoord-Error header), or ""
}

func (e *APIError) Error() string {
	return fmt.Sprintf("event API: %d %s", e.StatusCode, e.Message)
}

// Is reports whether the answer's status stands for target (see APIError).
func (e *APIError) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.StatusCode == http.StatusRequestTimeout
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case eventcoord.ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	}
	return false
}

// Unwrap returns the eventcoord error of the answer's Kind, or nil. The
// reason of a NameError is the server's whole message.
func (e *APIError) Unwrap() error {
	switch e.Kind {
	case kindInvalidName:
		return &eventcoord.NameError{Reason: e.Message}
	case kindTooManyNames:
		return eventcoord.ErrTooManyNames
	case kindDataRequired:
		return eventcoord.ErrDataRequired
	case kindBadListLimit:
		return eventcoord.ErrBadListLimit
	case kindClosed:
		return eventcoord.ErrClosed
	case kindNoWaiter:
		return errNoWaiter
	}
	return nil
}

// eventd's kinds of error (httpapi's Kind constants).
const (
	kindInvalidName  = "invalid_name"
	kindTooManyNames = "too_many_names"
	kindDataRequired = "data_required"
	kindBadListLimit = "bad_list_limit"
	kindClosed       = "closed"
	kindNoWaiter     = "no_waiter"
)

// errNoWaiter is the server's 404 for a registration it does not hold.
var errNoWaiter = errors.New("client: no such registration")

func readAPIError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{StatusCode: resp.StatusCode, Code: resp.StatusCode, Kind: resp.Header.Get(hdrError)}
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	switch {
	case json.Unmarshal(raw, &body) == nil && body.Error.Message != "":
		e.Code, e.Message = body.Error.Code, body.Error.Message
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		e.Message = fmt.Sprintf("%s to %q, which the client does not follow", http.StatusText(resp.StatusCode), resp.Header.Get("Location"))
	default:
		e.Message = strings.TrimSpace(http.StatusText(resp.StatusCode) + " " + string(raw))
	}
	return e
}
