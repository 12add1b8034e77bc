package eventcoord

import (
	"errors"
	"slices"
	"strings"
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
	Waiters       int   // waits blocked now, a wait on several names once per name (the sum of NameState.Waiters)
	Retained      int   // events retained now
	RetainedBytes int64 // their size, as in Stats.RetainedBytes
}

// ErrBadListLimit is returned by List for a negative ListOptions.Limit.
var ErrBadListLimit = errors.New("eventcoord: list limit must not be negative")

// list reads every shard, one lock at a time, for the names of scope that
// hold state: their totals, and the first limit after opts.After. It keeps
// no more than twice the page's names while it looks, whatever the scope
// holds.
func (c *Coordinator) list(scope string, opts ListOptions) (Listing, error) {
	if opts.Limit < 0 {
		return Listing{}, ErrBadListLimit
	}
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	byName := func(a, b NameState) int { return strings.Compare(a.Name, b.Name) }
	l := Listing{Names: make([]NameState, 0, min(limit+1, 64))}
	add := func(ns NameState) {
		l.Scope.Names++
		l.Scope.Waiters += ns.Waiters
		if ns.Retained {
			l.Scope.Retained++
			l.Scope.RetainedBytes += ns.Size
		}
		if ns.Name <= opts.After {
			return
		}
		if l.Names = append(l.Names, ns); len(l.Names) >= 2*(limit+1) {
			slices.SortFunc(l.Names, byName)
			l.Names = l.Names[:limit+1] // one more tells whether a next page exists
		}
	}
	for i := range c.shards {
		if !c.shards[i].listScope(scope, add) {
			return Listing{}, ErrClosed
		}
	}
	slices.SortFunc(l.Names, byName)
	if len(l.Names) > limit {
		l.Names = l.Names[:limit]
		l.Next = l.Names[limit-1].Name
	}
	return l, nil
}

// listScope calls add, with sh.mu held, for each name of scope in sh that
// holds state, and reports false, having called nothing, if sh is closed.
// An expired event the timer has yet to sweep is not retained any more.
func (sh *shard) listScope(scope string, add func(NameState)) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false
	}
	now := sh.c.since(time.Now())
	for k, b := range sh.names {
		if k.scope != scope {
			continue
		}
		ns := NameState{Name: k.name}
		switch {
		case !b.fired:
			ns.Waiters = int(b.holders())
		case !b.expired(now):
			ns.Retained, ns.Seq, ns.SignaledAt, ns.Size = true, b.ev.Seq, b.ev.SignaledAt, b.size
		}
		if f := sh.fresh[k]; f != nil {
			ns.Waiters += int(f.holders())
		}
		if ns.Waiters > 0 || ns.Retained {
			add(ns)
		}
	}
	for k, f := range sh.fresh {
		if _, seen := sh.names[k]; k.scope == scope && !seen && f.holders() > 0 {
			add(NameState{Name: k.name, Waiters: int(f.holders())})
		}
	}
	return true
}
