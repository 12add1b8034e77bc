package redisbus

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/eventcoord/eventcoord"
)

// waiter is one blocked Wait, or one Registration, of this process. While
// pending it is in Bus.waiters and, under each of its keys, in Bus.byKey;
// whoever takes it out (a delivery, Close, or its own leaving) decides its
// outcome. ev, err and hold are set before ready is closed and read only
// after.
type waiter struct {
	id    string // unique in Redis: the process ID, a dot, a counter; a Registration gets a new one when it registers again
	key   string // Redis key part of scope and name: the name given to Wait or Register
	sk    string // Redis key part of the scope
	ready chan struct{}
	ev    eventcoord.Event
	err   error
	x     *extra // nil for a Wait on one name without options, which keeps a waiter small
}

// extra is what a waiter has beyond a Wait on one name without options.
type extra struct {
	or    []string // the key parts of an any-of wait's other names
	fresh bool     // registers without taking a retained event older than since
	since string   // of a fresh waiter: the Seq when it first registered ("" before); guarded by Bus.mu
	reg   *registration
	hold  string // the delivery a Registration holds and Redis counts (see registration); set before ready closes
}

// or returns the key parts of an any-of wait's other names.
func (w *waiter) or() []string {
	if w.x == nil {
		return nil
	}
	return w.x.or
}

// reg returns the waiter's Registration, or nil for a Wait.
func (w *waiter) reg() *registration {
	if w.x == nil {
		return nil
	}
	return w.x.reg
}

// fresh reports whether w waits for fresh events only.
func (w *waiter) fresh() bool { return w.x != nil && w.x.fresh }

// has reports whether k is one of w's keys.
func (w *waiter) has(k string) bool { return k == w.key || slices.Contains(w.or(), k) }

// keys returns w's keys, the first name's first.
func (w *waiter) keys() []string { return append([]string{w.key}, w.or()...) }

// mode is the register script's mode for w.
func (w *waiter) mode() string {
	if w.fresh() {
		return "fresh"
	}
	return "wait"
}

func (s scoped) Wait(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Event, error) {
	spec, err := waitSpec(name, opts)
	if err != nil {
		return eventcoord.Event{}, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return eventcoord.Event{}, err
		}
		ev, err := s.wait(ctx, name, spec)
		if !errors.Is(err, errGone) {
			return ev, err
		}
	}
}

// waitSpec validates a wait's name and options. It returns nil for a wait
// on one name without options, which needs nothing more.
func waitSpec(name string, opts []eventcoord.WaitOption) (*eventcoord.WaitSpec, error) {
	if len(opts) == 0 {
		return nil, eventcoord.ValidateName(name)
	}
	spec, err := eventcoord.NewWaitSpec(name, opts...)
	if err != nil {
		return nil, err
	}
	if len(spec.Names) == 1 && !spec.Fresh {
		return nil, nil
	}
	return &spec, nil
}

// wait is one Wait: it returns errGone when the event it was handed had
// been offered again meanwhile.
func (s scoped) wait(ctx context.Context, name string, spec *eventcoord.WaitSpec) (eventcoord.Event, error) {
	b := s.b
	w, err := b.add(s.scope, name, spec, nil)
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
		case a.took:
			b.settle(handoff{d: a.d, ids: []string{w.id}})
		case a.err == nil: // registered
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
// retained event (d), or registered it (a fresh one at since), or failed
// (err).
type registerAnswer struct {
	took  bool
	d     delivery
	since string
	err   error
}

// parseRegister reads the register script's answer.
func parseRegister(res string, err error) registerAnswer {
	switch {
	case errors.Is(err, redis.Nil):
		return registerAnswer{}
	case err != nil:
		return registerAnswer{err: err}
	case strings.HasPrefix(res, "="):
		return registerAnswer{since: res[1:]}
	}
	d, err := parseDelivery(res)
	if err != nil {
		return registerAnswer{err: err}
	}
	return registerAnswer{took: true, d: d}
}

// registerFor runs the register script for w and hands the answer to w's
// Wait if it still waits for it, else undoes what the script did.
func (b *Bus) registerFor(ctx context.Context, w *waiter, answer chan<- registerAnswer) {
	defer b.calls.Done()
	a := parseRegister(b.registerCall(ctx, b.rdb, w, w.mode()))
	if errors.Is(a.err, errMalformed) {
		b.log.Error("redisbus: a retained event is undecodable", "err", a.err)
	}
	b.mu.Lock()
	if a.since != "" {
		w.x.since = a.since
	}
	if b.waiters[w.id] == w {
		answer <- a // buffered: never blocks
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.undo(w, a)
}

// registerCall runs the register script for w in mode on c.
func (b *Bus) registerCall(ctx context.Context, c redis.Scripter, w *waiter, mode string) (string, error) {
	id, since := w.id, ""
	if w.x != nil { // a fresh waiter's since and a Registration's ID change under b.mu
		b.mu.Lock()
		id, since = w.id, w.x.since
		b.mu.Unlock()
	}
	or := w.or()
	args := make([]any, 0, len(b.conf)+6+len(or))
	args = append(append(args, b.conf...), b.id, mode, since, 1+len(or), w.key)
	for _, k := range or {
		args = append(args, k)
	}
	args = append(args, id)
	return registerScript.Run(ctx, c, []string{b.prefix + ":w:" + w.key}, args...).Text()
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
	case a.took:
		b.settle(handoff{d: a.d, ids: []string{w.id}})
		return
	case a.err == nil:
		b.forgotten(w, registered)
	default:
		b.forgotten(w, outcomeOf(a.err))
	}
	b.nudge()
}

// Poll takes the retained event of name, or returns eventcoord.ErrNoEvent
// at once; it registers nothing (see [eventcoord.Events]).
func (s scoped) Poll(ctx context.Context, name string) (eventcoord.Event, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Event{}, err
	}
	b := s.b
	w, err := b.add(s.scope, name, nil, nil)
	if err != nil {
		return eventcoord.Event{}, err
	}
	defer b.calls.Done()
	rctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	a := parseRegister(b.registerCall(rctx, b.rdb, w, "poll"))
	cancel()
	switch {
	case a.took:
		b.settle(handoff{d: a.d, ids: []string{w.id}})
	case a.err == nil:
		if b.leave(w, registered) { // a reconnect may have registered it meanwhile
			return eventcoord.Event{}, eventcoord.ErrNoEvent
		}
	case errors.Is(a.err, errMalformed):
		b.leave(w, unsent)
		return eventcoord.Event{}, a.err
	default:
		if b.leave(w, outcomeOf(a.err)) {
			return eventcoord.Event{}, b.unavailable(ctx, "poll", a.err)
		}
	}
	<-w.ready
	if errors.Is(w.err, errGone) {
		return eventcoord.Event{}, eventcoord.ErrNoEvent
	}
	return w.ev, w.err
}

var _ eventcoord.Events = scoped{}

// add makes a pending waiter of scope and name (or of spec, when not nil)
// and counts one call (see begin), which its caller ends.
func (b *Bus) add(scope, name string, spec *eventcoord.WaitSpec, reg *registration) (*waiter, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, eventcoord.ErrClosed
	}
	b.calls.Add(1)
	w := &waiter{key: b.key(scope, name), sk: scopeKey(scope), ready: make(chan struct{})}
	if reg != nil || spec != nil {
		w.x = &extra{reg: reg}
	}
	if reg != nil {
		reg.w = w
	}
	if spec != nil {
		w.x.fresh = spec.Fresh
		for _, n := range spec.Names[1:] {
			w.x.or = append(w.x.or, b.key(scope, n))
		}
	}
	b.pend(w)
	return w, nil
}

// pend gives w a new ID and puts it among the pending waiters. b.mu must
// be held.
func (b *Bus) pend(w *waiter) {
	b.nextID++
	w.id = b.id + "." + strconv.FormatUint(b.nextID, 36)
	b.waiters[w.id] = w
	b.index(w, w.key)
	for _, k := range w.or() {
		b.index(w, k)
	}
}

func (b *Bus) index(w *waiter, k string) {
	g := b.byKey[k]
	if g == nil {
		g = map[string]*waiter{}
		b.byKey[k] = g
	}
	g[w.id] = w
}

// forget takes w out of the pending waiters. b.mu must be held.
func (b *Bus) forget(w *waiter) {
	delete(b.waiters, w.id)
	b.unindex(w, w.key)
	for _, k := range w.or() {
		b.unindex(w, k)
	}
}

func (b *Bus) unindex(w *waiter, k string) {
	g := b.byKey[k]
	delete(g, w.id)
	if len(g) == 0 {
		delete(b.byKey, k)
	}
}

// What Redis may hold of a waiter that leaves.
const (
	unsent     = iota // nothing: its register script never reached Redis
	registered        // its registrations
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

// removal is a waiter whose registrations the janitor removes from Redis:
// its ID ("?" first when its register script's outcome is unknown) and
// its keys.
type removal struct {
	id   string
	keys []string
}

// forgotten queues the removal of what Redis may hold of w, which left.
func (b *Bus) forgotten(w *waiter, held int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch held {
	case registered:
		b.gone = append(b.gone, removal{w.id, w.keys()})
	case unknown: // the abandon script leaves a tombstone for these
		b.gone = append(b.gone, removal{"?" + w.id, w.keys()})
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
