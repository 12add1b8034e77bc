package eventcoord

import (
	"context"
	"errors"
)

// ErrNoEvent is returned by Poll when no event is retained for the name.
var ErrNoEvent = errors.New("eventcoord: no event retained")

// Poller is implemented by an [Events] that can take a retained event
// without waiting: the wait with a zero timeout. The in-process Events
// ([Scope.Events]) and package client's implement it; eventd answers
// {"timeoutMs": 0} with Poll when its backend implements it.
//
// Poll returns the event retained for name and consumes it, as a Wait that
// finds it would; an event signaled while Poll runs may be returned too.
// When there is none it returns ErrNoEvent at once and changes nothing. It
// returns ErrInvalidName and ErrClosed as Wait does. A Poll is not a Wait
// whose context is already done: such a Wait returns at once without
// consuming anything, retained events included.
type Poller interface {
	Poll(ctx context.Context, name string) (Event, error)
}

// Poll returns the event retained for name and consumes it, or returns
// ErrNoEvent at once if none is retained: a Wait that does not wait (see
// [Poller]). It returns ErrInvalidName for a bad name and ErrClosed once
// Close is called.
func (c *Coordinator) Poll(name string) (Event, error) { return c.Scope("").Poll(name) }

// Poll is [Coordinator.Poll] within the scope.
func (s Scope) Poll(name string) (Event, error) {
	w, err := s.Register(name)
	if err != nil {
		return Event{}, err
	}
	// A Waiter that found the retained event holds it and returns it even
	// for a done context; one that found none leaves at once, as if it had
	// never registered, unless a signal reached it in between (delivery
	// wins, S3).
	ev, err := w.Wait(alreadyDone)
	if errors.Is(err, context.Canceled) {
		return Event{}, ErrNoEvent
	}
	return ev, err
}

// Poll is [Scope.Poll]; it ignores its context, as an in-process Poll never
// blocks.
func (e scopeEvents) Poll(_ context.Context, name string) (Event, error) {
	return e.s.Poll(name)
}

var _ Poller = scopeEvents{}

// alreadyDone is a context that is already cancelled.
var alreadyDone = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
