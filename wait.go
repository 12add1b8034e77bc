package eventcoord

import "context"

// waitWith is Wait with options: it registers as the options ask, then
// waits as Waiter.Wait does.
func (c *Coordinator) waitWith(ctx context.Context, scope, name string, opts []WaitOption) (Event, error) {
	spec, err := NewWaitSpec(name, opts...)
	if err != nil {
		return Event{}, err
	}
	if err := ctx.Err(); err != nil { // consume nothing, retained events included
		return Event{}, err
	}
	w, err := c.registerSpec(scope, spec)
	if err != nil {
		return Event{}, err
	}
	return w.Wait(ctx)
}

// registerWith is Register with options.
func (c *Coordinator) registerWith(scope, name string, opts []WaitOption) (*Waiter, error) {
	spec, err := NewWaitSpec(name, opts...)
	if err != nil {
		return nil, err
	}
	return c.registerSpec(scope, spec)
}

// registerSpec registers the wait spec asks for in scope: on several names
// (anyof.go), Fresh (fresh.go) or plain.
func (c *Coordinator) registerSpec(scope string, spec WaitSpec) (*Waiter, error) {
	k := key{scope: scope, name: spec.Names[0]}
	switch {
	case len(spec.Names) > 1:
		return c.joinAny(scope, spec)
	case spec.Fresh:
		return c.joinFresh(nil, k)
	}
	return c.join(c.shardFor(k), nil, k)
}
