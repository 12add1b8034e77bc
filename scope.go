package eventcoord

import "context"

// Scope is a namespace of event names in a Coordinator: the same name in
// two scopes is two unrelated events. The server uses one scope per API key.
// A scope is kept apart from the name, never joined to it, so no name can
// reach into another scope. The Coordinator's own methods use the scope
// with the empty ID.
//
// A Scope is a small value, safe for concurrent use, valid as long as its
// Coordinator.
type Scope struct {
	c  *Coordinator
	id string
}

// Scope returns the scope with the given ID. Any string is a valid ID.
func (c *Coordinator) Scope(id string) Scope { return Scope{c: c, id: id} }

// ID returns the scope's ID.
func (s Scope) ID() string { return s.id }

// Signal is [Coordinator.Signal] within the scope.
func (s Scope) Signal(name string, data Data) (Receipt, error) {
	return s.c.signal(key{scope: s.id, name: name}, data)
}

// Wait is [Coordinator.Wait] within the scope.
func (s Scope) Wait(ctx context.Context, name string, opts ...WaitOption) (Event, error) {
	return s.c.wait(ctx, s.id, name, opts)
}

// Register is [Coordinator.Register] within the scope.
func (s Scope) Register(name string, opts ...WaitOption) (*Waiter, error) {
	return s.c.register(s.id, name, opts)
}

// Clear is [Coordinator.Clear] within the scope.
func (s Scope) Clear(name string) (bool, error) { return s.c.clear(key{scope: s.id, name: name}) }

// List is [Coordinator.List] within the scope.
func (s Scope) List(opts ListOptions) (Listing, error) { return s.c.list(s.id, opts) }
