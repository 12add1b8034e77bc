package eventcoord

import (
	"context"
	"fmt"
	"slices"
)

// Events is what application code needs to coordinate: signal a name, wait
// for it, register before acting, look at and clear what a scope holds.
// The in-process Coordinator (through [Coordinator.Events] or
// [Scope.Events]), the HTTP client in package client and the Redis backend
// in package redisbus all provide it with the same results (S11), which
// package eventcoordtest checks, so the same code runs on any of them.
//
// Implementations are safe for concurrent use. The methods have the
// semantics of the Coordinator's methods of the same names; remote
// implementations also honour ctx in every method and may return errors
// wrapping ErrUnavailable. On every implementation a wait that ends
// because its context's deadline passed returns an error for which
// errors.Is(err, context.DeadlineExceeded) holds, and one whose context was
// cancelled an error for which errors.Is(err, context.Canceled) holds.
type Events interface {
	// Signal hands data to every waiter of name, or retains it for the
	// next one (see [Coordinator.Signal]).
	Signal(ctx context.Context, name string, data Data) (Receipt, error)

	// Wait returns the next event of name, or of any of the names given
	// with [Or], taking a retained one at once unless [Fresh] is given
	// (see [Coordinator.Wait]).
	Wait(ctx context.Context, name string, opts ...WaitOption) (Event, error)

	// Register registers a wait now, so that a signal sent any time after
	// it returns reaches the Registration (see [Coordinator.Register]).
	// The caller must call Wait or Cancel on it.
	Register(ctx context.Context, name string, opts ...WaitOption) (Registration, error)

	// Poll takes the event retained for name without waiting, or returns
	// ErrNoEvent at once (see [Coordinator.Poll]).
	Poll(ctx context.Context, name string) (Event, error)

	// Clear removes the event retained for name, if any, and reports
	// whether there was one (see [Coordinator.Clear]).
	Clear(ctx context.Context, name string) (bool, error)

	// List returns a page of the scope's names that hold state: waiters
	// or a retained event (see [Coordinator.List]).
	List(ctx context.Context, opts ListOptions) (Listing, error)
}

// Registration is a wait registered before the action that causes its
// event: made by [Events.Register]; [*Waiter] is the in-process one. It
// serves one event.
//
// Its methods are safe for concurrent use and behave as [Waiter]'s: Wait
// blocks until the event arrives or ctx ends (the Registration then leaves,
// as by Cancel); Done is closed once the event (or an error such as
// ErrClosed) is there for Wait to return at once; Cancel withdraws it and
// gives back an event it holds but has not returned. Once it has left, Wait
// returns at once why, and Done may stay open (see [Waiter.Done]).
type Registration interface {
	Wait(ctx context.Context) (Event, error)
	Done() <-chan struct{}
	Cancel()
}

// A WaitOption changes what Wait and Register wait for, on every
// implementation of [Events].
type WaitOption interface{ applyWait(*WaitSpec) }

type waitOptionFunc func(*WaitSpec)

func (f waitOptionFunc) applyWait(s *WaitSpec) { f(s) }

// Fresh makes a wait leave every retained event alone and wait for the
// next signal of its names: use it when an event signaled before the wait
// (an earlier attempt's MFA code) must not be taken for the awaited one.
// The retained event stays retained, for waits without Fresh.
func Fresh() WaitOption { return waitOptionFunc(func(s *WaitSpec) { s.Fresh = true }) }

// Or adds names to a wait: it returns the first event of any of its names
// (Event.Name says which) and consumes only that one. Every other name's
// events are left exactly as if the wait had never been: a signal that
// comes after the wait was served is retained or goes to other waiters,
// and its Receipt does not count the wait. Of the events retained when the
// wait starts, that of the first name in the order given (the name given
// to Wait, then Or's) is taken. A name given twice counts once. While it
// waits, the wait counts as a waiter of each of its names (Stats.Waiters,
// NameState.Waiters).
func Or(names ...string) WaitOption {
	names = slices.Clone(names)
	return waitOptionFunc(func(s *WaitSpec) { s.Names = append(s.Names, names...) })
}

// MaxWaitNames bounds the names of one wait: the name given to Wait or
// Register and those given with Or.
const MaxWaitNames = 16

// ErrTooManyNames is returned by Wait and Register for a wait on more than
// MaxWaitNames names.
var ErrTooManyNames = fmt.Errorf("eventcoord: a wait takes at most %d names", MaxWaitNames)

// WaitSpec is what a wait asks for. Implementations of [Events] outside
// this package read their options with [NewWaitSpec].
type WaitSpec struct {
	Names []string // the names waited on, the one given to Wait first; no duplicates
	Fresh bool     // leave retained events alone (see Fresh)
}

// NewWaitSpec returns the WaitSpec of a wait on name with opts, ignoring
// nil options. It returns
// an error wrapping ErrInvalidName for an invalid name (see ValidateName)
// and ErrTooManyNames for more than MaxWaitNames distinct names.
func NewWaitSpec(name string, opts ...WaitOption) (WaitSpec, error) {
	s := WaitSpec{Names: []string{name}}
	for _, o := range opts {
		if o != nil { // as if not given: a nil option asks for nothing
			o.applyWait(&s)
		}
	}
	if len(s.Names) > 1 {
		s.Names = dedup(s.Names)
	}
	if len(s.Names) > MaxWaitNames {
		return WaitSpec{}, ErrTooManyNames
	}
	for _, n := range s.Names {
		if err := ValidateName(n); err != nil {
			return WaitSpec{}, err
		}
	}
	return s, nil
}

// dedup returns names without repeats, in the order of first appearance.
func dedup(names []string) []string {
	out := names[:1]
	for _, n := range names[1:] {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Events returns the Coordinator's default scope as [Events].
func (c *Coordinator) Events() Events { return c.Scope("").Events() }

// Events returns the scope as [Events]. Its methods ignore their context
// except Wait and Registration.Wait: nothing in-process blocks but waiting.
func (s Scope) Events() Events { return scopeEvents{s} }

type scopeEvents struct{ s Scope }

var _ Events = scopeEvents{}

func (e scopeEvents) Signal(_ context.Context, name string, data Data) (Receipt, error) {
	return e.s.Signal(name, data)
}

func (e scopeEvents) Wait(ctx context.Context, name string, opts ...WaitOption) (Event, error) {
	return e.s.Wait(ctx, name, opts...)
}

func (e scopeEvents) Register(_ context.Context, name string, opts ...WaitOption) (Registration, error) {
	w, err := e.s.Register(name, opts...)
	if err != nil {
		return nil, err // not a nil *Waiter in a non-nil Registration
	}
	return w, nil
}

func (e scopeEvents) Poll(_ context.Context, name string) (Event, error) { return e.s.Poll(name) }

func (e scopeEvents) Clear(_ context.Context, name string) (bool, error) { return e.s.Clear(name) }

func (e scopeEvents) List(_ context.Context, opts ListOptions) (Listing, error) {
	return e.s.List(opts)
}
