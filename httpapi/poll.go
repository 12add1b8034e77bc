package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/eventcoord/eventcoord"
)

// waitOrPoll waits for the event name until ctx ends. A zero timeout is a
// poll: the retained event if there is one, else the timeout at once. It
// takes an [eventcoord.Poller] to find a retained event without waiting;
// of an Events that is none, a zero timeout gets the timeout at once, since
// its Wait returns at once, consuming nothing, for a context that is done.
func waitOrPoll(ctx context.Context, events eventcoord.Events, name string, timeout time.Duration) (eventcoord.Event, error) {
	p, ok := events.(eventcoord.Poller)
	if !ok || timeout > 0 {
		return events.Wait(ctx, name)
	}
	ev, err := p.Poll(ctx, name)
	if errors.Is(err, eventcoord.ErrNoEvent) {
		<-ctx.Done() // at once: the zero timeout has ended it, and its cause tells the answer
		return ev, ctx.Err()
	}
	return ev, err
}
