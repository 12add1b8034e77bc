package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/eventcoord/eventcoord"
)

// waitOrPoll waits for the event name until ctx ends. A zero timeout is a
// poll: the retained event if there is one, else the timeout at once. It
// takes an [eventcoord.Poller] to find a retained event without waiting,
// and gives its Poll the context live, which the timeout does not end (a
// remote Poll needs time for its round trip). Of an Events that is no
// Poller, a zero timeout gets the timeout at once: its Wait returns at
// once, consuming nothing, for a context that is done.
func waitOrPoll(live, ctx context.Context, events eventcoord.Events, name string, timeout time.Duration) (eventcoord.Event, error) {
	p, ok := events, true
	if !ok || timeout > 0 {
		return events.Wait(ctx, name)
	}
	ev, err := p.Poll(live, name)
	if errors.Is(err, eventcoord.ErrNoEvent) {
		<-ctx.Done() // at once: the zero timeout has ended it, and its cause tells the answer
		return ev, ctx.Err()
	}
	return ev, err
}
