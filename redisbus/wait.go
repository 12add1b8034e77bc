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

func (s scoped) Wait(ctx context.Context, name string) (eventcoord.Event, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Event{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventcoord.Event{}, err
	}
	b := s.b
	w, err := b.add(s.scope, name)
	if err != nil {
		return eventcoord.Event{}, err
	}

	// One script takes the retained event or registers the waiter. If ctx
	// ends before its answer, the outcome is left to Redis: a registration
	// is removed by the janitor (or dropped by the next signal), a taken
	// event is in flight and offered again when nobody answers for it.
	res, err := b.register(ctx, w, "wait")
	switch {
	case err == nil: // took the retained event
		d, perr := parseDelivery(res)
		if perr != nil {
			b.log.Error("redisbus: dropping an undecodable retained event", "err", perr)
			b.leave(w)
			return eventcoord.Event{}, perr
		}
		b.settle(d, []string{w.id})
	case errors.Is(err, redis.Nil): // registered
		select {
		case <-w.ready:
		case <-ctx.Done():
			if b.leave(w) {
				return eventcoord.Event{}, ctx.Err()
			}
		}
	default:
		if b.leave(w) {
			return eventcoord.Event{}, b.unavailable(ctx, "wait", err)
		}
	}
	<-w.ready // taken by a delivery: it answers at once (delivery wins)
	return w.ev, w.err
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
	res, err := b.register(ctx, w, "poll")
	switch {
	case err == nil:
		d, perr := parseDelivery(res)
		if perr != nil {
			b.leave(w)
			return eventcoord.Event{}, perr
		}
		b.settle(d, []string{w.id})
	case errors.Is(err, redis.Nil):
		if b.leave(w) { // a reconnect may have registered it meanwhile: leave properly
			return eventcoord.Event{}, eventcoord.ErrNoEvent
		}
	default:
		if b.leave(w) {
			return eventcoord.Event{}, b.unavailable(ctx, "poll", err)
		}
	}
	<-w.ready
	return w.ev, w.err
}

var _ eventcoord.Poller = scoped{}

// register runs the register script for w, bounded by ctx and the bus's
// timeout. It returns a delivery of the retained event, or redis.Nil.
func (b *Bus) register(ctx context.Context, w *waiter, mode string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	return registerScript.Run(ctx, b.rdb, []string{b.prefix + ":w:" + w.key}, b.args(w.sk, w.key, b.id, mode, w.id)...).Text()
}

// add makes a pending waiter of scope and name.
func (b *Bus) add(scope, name string) (*waiter, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, eventcoord.ErrClosed
	}
	b.nextID++
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

// leave takes w out if it is still pending, and has its registration
// removed in the background; it reports false when a delivery or Close
// took w first.
func (b *Bus) leave(w *waiter) bool {
	b.mu.Lock()
	if b.waiters[w.id] != w {
		b.mu.Unlock()
		return false
	}
	b.forget(w)
	b.gone[w.key] = append(b.gone[w.key], w.id)
	b.mu.Unlock()
	b.nudge()
	return true
}

// settle hands delivery d to those of the waiters ids that are still
// pending, answers it in Redis, then wakes them. The answer comes first,
// so that a process dying in between leaves the delivery to be offered
// again rather than delivered twice; if it fails without reaching Redis
// the waiters get the error and the event is offered again, and if its
// fate is unknown they get the event (it may then be delivered again).
func (b *Bus) settle(d delivery, ids []string) {
	k := b.key(d.scope, d.ev.Name)
	b.mu.Lock()
	var ws []*waiter
	for _, id := range ids {
		if w := b.waiters[id]; w != nil && w.key == k {
			b.forget(w)
			ws = append(ws, w)
		}
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.run, b.opts.timeout)
	err := ackScript.Run(ctx, b.rdb, []string{b.prefix + ":fl:" + d.id}, b.args(d.id, len(ws))...).Err()
	cancel()
	var failed error
	switch {
	case err == nil:
	case b.run.Err() != nil && errors.Is(err, context.Canceled):
		failed = eventcoord.ErrClosed
	case notSent(err):
		failed = b.unavailable(context.Background(), "answer delivery", err)
	default:
		b.log.Warn("redisbus: answering a delivery failed; if Redis did not run it, the event is offered again", "err", err)
	}
	if failed == nil {
		b.woken.Add(uint64(len(ws)))
	}
	for _, w := range ws {
		w.ev, w.err = d.ev, failed
		if failed != nil {
			w.ev = eventcoord.Event{}
		}
		close(w.ready)
	}
}

// notSent reports whether a failed call certainly never reached Redis.
func notSent(err error) bool {
	var op *net.OpError
	return errors.Is(err, redis.ErrPoolTimeout) || (errors.As(err, &op) && op.Op == "dial")
}
