package redisbus

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/eventcoord/eventcoord"
)

// waiter is one blocked Wait of this process. While pending it is in
// Bus.waiters and Bus.byKey; whoever takes it out (a delivery, Close, or
// the Wait itself when its context ends) decides its outcome. ev and err
// are set before ready is closed and read only after.
type waiter struct {
	id    string // unique in Redis: the process ID, a dot, a counter
	key   string // Redis key part of scope and name
	sk    string // Redis key part of the scope
	ready chan struct{}
	ev    eventcoord.Event
	err   error
}

func (s scoped) Wait(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Event, error) {
	if len(opts) > 0 {
		return eventcoord.Event{}, errNotYet
	}
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Event{}, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return eventcoord.Event{}, err
		}
		ev, err := s.wait(ctx, name)
		if !errors.Is(err, errGone) {
			return ev, err
		}
	}
}

// wait is one Wait: it returns errGone when the event it was handed had
// been offered again meanwhile.
func (s scoped) wait(ctx context.Context, name string) (eventcoord.Event, error) {
	b := s.b
	w, err := b.add(s.scope, name)
	if err != nil {
		return eventcoord.Event{}, err
	}

	// One script takes the retained event or registers the waiter. It runs
	// to its answer (within the bus's timeout) even when ctx ends first, so
	// that what it did is known and undone at once: whoever finds the
	// waiter gone when the answer comes cleans up.
	answer := make(chan registerAnswer, 1)
	callCtx, stopCall := context.WithTimeout(context.Background(), b.opts.timeout)
	defer stopCall()
	go b.registerFor(callCtx, w, answer)
	select {
	case a := <-answer:
		switch {
		case a.err == nil: // took the retained event
			b.settle(handoff{d: a.d, ids: []string{w.id}})
		case errors.Is(a.err, redis.Nil): // registered
			select {
			case <-w.ready:
			case <-ctx.Done():
				if b.leave(w, registered) {
					return eventcoord.Event{}, ctx.Err()
				}
			}
		default:
			if b.leave(w, outcomeOf(a.err)) {
				return eventcoord.Event{}, b.unavailable(ctx, "wait", a.err)
			}
		}
	case <-w.ready: // a delivery, a reconnect or Close took it first
	case <-ctx.Done():
		// Cancelling the call sheds it if it still waits for a connection
		// (go-redis then never sends it); once sent, only its deadline
		// cuts it short, so its answer is known.
		stopCall()
		if b.leaveCalling(w, answer) {
			return eventcoord.Event{}, ctx.Err()
		}
	}
	<-w.ready // taken by a delivery: it answers at once (delivery wins)
	return w.ev, w.err
}

// registerAnswer is what the register script did for a waiter: took the
// retained event (d), or registered it (err is redis.Nil), or failed.
type registerAnswer struct {
	d   delivery
	err error
}

// registerFor runs the register script for w and hands the answer to w's
// Wait if it still waits for it, else undoes what the script did.
func (b *Bus) registerFor(ctx context.Context, w *waiter, answer chan<- registerAnswer) {
	defer b.calls.Done()
	var a registerAnswer
	res, err := registerScript.Run(ctx, b.rdb, []string{b.prefix + ":w:" + w.key}, b.args(w.sk, w.key, b.id, "wait", w.id)...).Text()
	if a.err = err; err == nil {
		if a.d, a.err = parseDelivery(res); a.err != nil {
			b.log.Error("redisbus: a retained event is undecodable", "err", a.err)
		}
	}
	b.mu.Lock()
	if b.waiters[w.id] == w {
		answer <- a // buffered: never blocks
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.undo(w, a)
}

// leaveCalling is leave for a waiter whose register script has not
// answered yet: the answer, now or when it comes, is undone.
func (b *Bus) leaveCalling(w *waiter, answer <-chan registerAnswer) bool {
	b.mu.Lock()
	if b.waiters[w.id] != w {
		b.mu.Unlock()
		return false
	}
	b.forget(w)
	var a registerAnswer
	var got bool
	select {
	case a, got = <-answer:
	default: // registerFor finds w gone and undoes the answer itself
	}
	b.mu.Unlock()
	if got {
		b.undo(w, a)
	}
	return true
}

// undo undoes what the register script did for w, which no longer waits:
// a taken event is answered with none woken (so it is offered again), a
// registration is removed.
func (b *Bus) undo(w *waiter, a registerAnswer) {
	switch {
	case a.err == nil:
		b.settle(handoff{d: a.d, ids: []string{w.id}})
		return
	case errors.Is(a.err, redis.Nil):
		b.forgotten(w, registered)
	default:
		b.forgotten(w, outcomeOf(a.err))
	}
	b.nudge()
}

// Poll takes the retained event of name, or returns eventcoord.ErrNoEvent
// at once; it registers nothing (see [eventcoord.Poller]).
func (s scoped) Poll(ctx context.Context, name string) (eventcoord.Event, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Event{}, err
	}
	b := s.b
	w, err := b.add(s.scope, name)
	if err != nil {
		return eventcoord.Event{}, err
	}
	defer b.calls.Done()
	res, err := b.register(ctx, w, "poll")
	switch {
	case err == nil:
		d, perr := parseDelivery(res)
		if perr != nil {
			b.leave(w, unsent)
			return eventcoord.Event{}, perr
		}
		b.settle(handoff{d: d, ids: []string{w.id}})
	case errors.Is(err, redis.Nil):
		if b.leave(w, registered) { // a reconnect may have registered it meanwhile
			return eventcoord.Event{}, eventcoord.ErrNoEvent
		}
	default:
		if b.leave(w, outcomeOf(err)) {
			return eventcoord.Event{}, b.unavailable(ctx, "poll", err)
		}
	}
	<-w.ready
	if errors.Is(w.err, errGone) {
		return eventcoord.Event{}, eventcoord.ErrNoEvent
	}
	return w.ev, w.err
}

var _ eventcoord.Events = scoped{}

// register runs the register script for w, bounded by ctx and the bus's
// timeout. It returns a delivery of the retained event, or redis.Nil.
func (b *Bus) register(ctx context.Context, w *waiter, mode string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	return registerScript.Run(ctx, b.rdb, []string{b.prefix + ":w:" + w.key}, b.args(w.sk, w.key, b.id, mode, w.id)...).Text()
}

// add makes a pending waiter of scope and name and counts one call (see
// begin), which its caller ends.
func (b *Bus) add(scope, name string) (*waiter, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, eventcoord.ErrClosed
	}
	b.nextID++
	b.calls.Add(1)
	w := &waiter{id: b.id + "." + strconv.FormatUint(b.nextID, 36), key: b.key(scope, name), sk: scopeKey(scope), ready: make(chan struct{})}
	b.waiters[w.id] = w
	g := b.byKey[w.key]
	if g == nil {
		g = map[string]*waiter{}
		b.byKey[w.key] = g
	}
	g[w.id] = w
	return w, nil
}

// forget takes w out of the pending waiters. b.mu must be held.
func (b *Bus) forget(w *waiter) {
	delete(b.waiters, w.id)
	g := b.byKey[w.key]
	delete(g, w.id)
	if len(g) == 0 {
		delete(b.byKey, w.key)
	}
}

// What Redis may hold of a waiter that leaves.
const (
	unsent     = iota // nothing: its register script never reached Redis
	registered        // its registration
	unknown           // anything its register script does, now or later
)

// outcomeOf tells what a register script that failed with err may have
// done.
func outcomeOf(err error) int {
	if notSent(err) {
		return unsent
	}
	return unknown
}

// leave takes w out if it is still pending, and has the janitor remove
// what Redis may hold of it; it reports false when a delivery or Close
// took w first.
func (b *Bus) leave(w *waiter, held int) bool {
	b.mu.Lock()
	if b.waiters[w.id] != w {
		b.mu.Unlock()
		return false
	}
	b.forget(w)
	b.mu.Unlock()
	b.forgotten(w, held)
	b.nudge()
	return true
}

// forgotten queues the removal of what Redis may hold of w, which left.
func (b *Bus) forgotten(w *waiter, held int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch held {
	case registered:
		b.gone[w.key] = append(b.gone[w.key], w.id)
	case unknown: // the abandon script leaves a tombstone for these
		b.gone[w.key] = append(b.gone[w.key], "?"+w.id)
	}
}

// notSent reports whether a failed call never reached Redis: it failed to
// dial, or ended waiting for a connection (a context error that is not a
// network error: once a call is on a connection, its deadline surfaces as
// an i/o timeout).
func notSent(err error) bool {
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.Is(err, redis.ErrPoolTimeout), errors.As(err, &op) && op.Op == "dial":
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return !errors.As(err, &ne)
	}
	return false
}

// errNotYet marks what the API skeleton declares and the bus has yet to
// provide. TODO(issue 11): remove with the last use.
var errNotYet = errors.New("redisbus: not implemented yet")

func (s scoped) Register(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Registration, error) {
	return nil, errNotYet
}

func (s scoped) Clear(ctx context.Context, name string) (bool, error) { return false, errNotYet }

func (s scoped) List(ctx context.Context, opts eventcoord.ListOptions) (eventcoord.Listing, error) {
	return eventcoord.Listing{}, errNotYet
}
