package eventcoord

import (
	"context"
	"errors"
)

// ErrNoEvent is returned by Poll when no event is retained for the name.
var ErrNoEvent = errors.New("eventcoord: no event retained")

// Poll returns the event retained for name and consumes it, as a Wait that
// finds it would, or returns ErrNoEvent at once and changes nothing if none
// is retained: the wait with a zero timeout. An event signaled while Poll
// runs may be returned too. It returns ErrInvalidName for a bad name and
// ErrClosed once Close is called. A Poll is not a Wait whose context is
// already done: such a Wait returns at once without consuming anything,
// retained events included.
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

// alreadyDone is a context that is already cancelled.
var alreadyDone = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
