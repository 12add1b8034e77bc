package eventcoord

import "context"

// Events is what application code needs to coordinate: signal a name, wait
// for a name. The in-process Coordinator (through [Coordinator.Events] or
// [Scope.Events]), the HTTP client in package client and the Redis backend
// all provide it, so the same code runs on any of them.
//
// Implementations are safe for concurrent use. Signal and Wait have the
// semantics of [Coordinator.Signal] and [Coordinator.Wait]; Wait returns
// ctx.Err() when ctx ends first. Remote implementations also honour ctx in
// Signal and may return transport errors.
type Events interface {
	Signal(ctx context.Context, name string, data Data) (Receipt, error)
	Wait(ctx context.Context, name string) (Event, error)
}

// Events returns the Coordinator's default scope as [Events].
func (c *Coordinator) Events() Events { return c.Scope("").Events() }

// Events returns the scope as [Events]. Signal ignores its context: an
// in-process signal never blocks.
func (s Scope) Events() Events { return scopeEvents{s} }

type scopeEvents struct{ s Scope }

func (e scopeEvents) Signal(_ context.Context, name string, data Data) (Receipt, error) {
	return e.s.Signal(name, data)
}

func (e scopeEvents) Wait(ctx context.Context, name string) (Event, error) {
	return e.s.Wait(ctx, name)
}
