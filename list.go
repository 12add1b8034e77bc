package eventcoord

import (
	"errors"
	"time"
)

// Bounds of a List page.
const (
	DefaultListLimit = 100  // names per page when ListOptions.Limit is 0
	MaxListLimit     = 1000 // names per page at most, whatever ListOptions.Limit says
)

// ListOptions selects a page of [Coordinator.List].
type ListOptions struct {
	// After starts the page after this name, in bytewise order: pass the
	// previous page's Listing.Next. The empty string starts at the first.
	After string
	// Limit is the most names on the page: 0 means DefaultListLimit; more
	// than MaxListLimit means MaxListLimit. Negative is an error.
	Limit int
}

// Listing is one page of a scope's names that hold state, with the
// scope's totals.
type Listing struct {
	Names []NameState // sorted bytewise by name, at most the page's limit
	// Next is the After of the following page, or "" if this page is the
	// last.
	Next  string
	Scope ScopeStats // the whole scope's state, not only this page's
}

// NameState is what one name of a scope holds.
type NameState struct {
	Name    string
	Waiters int // waits blocked on the name now (a wait on several names counts on each)
	// Retained is set when an event is retained for the name; Seq,
	// SignaledAt and Size describe it.
	Retained   bool
	Seq        uint64
	SignaledAt time.Time
	Size       int64 // the length of the retained event's data's JSON encoding
}

// ScopeStats is the state of one scope. Under concurrent use its fields
// need not agree with one another exactly.
type ScopeStats struct {
	Names         int   // names holding state (waiters or a retained event)
	Waiters       int   // waits blocked now
	Retained      int   // events retained now
	RetainedBytes int64 // their size, as in Stats.RetainedBytes
}

// ErrBadListLimit is returned by List for a negative ListOptions.Limit.
var ErrBadListLimit = errors.New("eventcoord: list limit must not be negative")
