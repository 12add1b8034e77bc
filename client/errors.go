package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/eventcoord/eventcoord"
)

var (
	// ErrTimeout matches (with errors.Is) the error of a wait that nobody
	// signaled in time: the API's 408.
	ErrTimeout = errors.New("client: event was not signaled within the timeout")
	// ErrUnauthorized matches the API's 401: a missing or unknown API key.
	ErrUnauthorized = errors.New("client: invalid API key")
)

// APIError is an answer of the API other than 200.
type APIError struct {
	StatusCode int    // the HTTP status
	Code       int    // the code in the error body, usually the status
	Message    string // the message in the error body
}

func (e *APIError) Error() string {
	return fmt.Sprintf("event API: %d %s", e.StatusCode, e.Message)
}

// Is makes a 408 match ErrTimeout, a 401 ErrUnauthorized, a 503
// eventcoord.ErrUnavailable, and a 400 about the event name
// eventcoord.ErrInvalidName.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrTimeout:
		return e.StatusCode == http.StatusRequestTimeout
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case eventcoord.ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	case eventcoord.ErrInvalidName:
		return e.StatusCode == http.StatusBadRequest && strings.HasPrefix(e.Message, "Invalid event name")
	}
	return false
}

func readAPIError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{StatusCode: resp.StatusCode, Code: resp.StatusCode}
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
