package eventcoord

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Data is the JSON object an event carries. Signal takes ownership of it:
// every waiter of one signal receives the same map and must treat it as
// read-only (see [Event]).
type Data = map[string]any

// Event is what a waiter receives.
//
// All waiters woken by one signal share its Data map. Treat it as read-only;
// a waiter that needs to modify the payload copies it first, for example
// with maps.Clone (shallow) or by a JSON round trip (deep).
type Event struct {
	Name       string    // the event name, without its scope
	Data       Data      // the payload given to Signal, shared read-only
	Seq        uint64    // grows strictly with every accepted signal of a Coordinator
	SignaledAt time.Time // when Signal accepted the event
}

// Receipt tells the caller of Signal what became of the event.
type Receipt struct {
	Seq      uint64 // the event's sequence number
	Woken    int    // waiters the event was handed to; 0 if none waited
	Retained bool   // no waiter: the event is kept for the next one
}

// MaxNameLen is the longest accepted event name, in bytes.
const MaxNameLen = 1024

var (
	// ErrInvalidName is returned by Signal, Wait and Register for an empty
	// name, a name longer than MaxNameLen bytes, or one that is not UTF-8.
	ErrInvalidName = errors.New("eventcoord: invalid event name")
	// ErrDataRequired is returned by Signal when data is nil. An empty
	// Data{} is a valid payload.
	ErrDataRequired = errors.New("eventcoord: event data is required")
	// ErrClosed is returned by Signal, Wait and Register once the
	// Coordinator is closed, and by waits that Close woke.
	ErrClosed = errors.New("eventcoord: coordinator closed")
	// ErrUnavailable is wrapped by remote implementations of [Events] when
	// the service behind them (eventd, Redis) cannot be reached: the signal
	// was not accepted, or the wait could not be carried out.
	ErrUnavailable = errors.New("eventcoord: event service unavailable")
)

// NameError is the error for an invalid event name: errors.Is(err,
// ErrInvalidName) holds for it, and errors.As gives the reason, for servers
// and clients that report it.
type NameError struct {
	Reason string // why the name is invalid, for people: "empty", "not valid UTF-8"
}

func (e *NameError) Error() string { return ErrInvalidName.Error() + ": " + e.Reason }

// Is reports whether target is ErrInvalidName.
func (e *NameError) Is(target error) bool { return target == ErrInvalidName }

// ValidateName returns nil if name is a valid event name, else a
// *NameError that says why. Signal, Wait and Register apply it; other
// implementations of [Events] use it to apply the same rule.
func ValidateName(name string) error {
	switch {
	case name == "":
		return &NameError{Reason: "empty"}
	case len(name) > MaxNameLen:
		return &NameError{Reason: fmt.Sprintf("%d bytes, the limit is %d", len(name), MaxNameLen)}
	case !utf8.ValidString(name):
		return &NameError{Reason: "not valid UTF-8"}
	}
	return nil
}
