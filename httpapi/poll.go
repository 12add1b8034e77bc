package httpapi

import (
	"context"
	"errors"

	"github.com/eventcoord/eventcoord"
)

// waitOrPoll waits for the event name as req asks until ctx ends. A zero
// timeout is a poll: the event there is now, else the timeout at once.
// Such a poll gets the context live, which the timeout does not end (a
// remote backend needs time for its round trip): a plain one is
// Events.Poll, one with anyOf or fresh a Registration waited on with the
// ended ctx, which returns an event that reached it and else leaves.
func waitOrPoll(live, ctx context.Context, events eventcoord.Events, name string, req waitBody) (eventcoord.Event, error) {
	opts := req.options()
	switch {
	case req.timeout > 0:
		return events.Wait(ctx, name, opts...)
	case len(opts) > 0:
		reg, err := events.Register(live, name, opts...)
		if err != nil {
			return eventcoord.Event{}, err
		}
		return reg.Wait(ctx) // at once: the zero timeout has ended ctx, and its cause tells the answer
	}
	ev, err := events.Poll(live, name)
	if errors.Is(err, eventcoord.ErrNoEvent) {
		<-ctx.Done() // at once, as above
		return ev, ctx.Err()
	}
	return ev, err
}
