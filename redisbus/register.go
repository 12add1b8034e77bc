package redisbus

import (
	"context"
	"time"

	"github.com/eventcoord/eventcoord"
)

// registration is an eventcoord.Registration of this process: a waiter
// that stays registered from Register until it returns its event or
// leaves.
//
// When a delivery takes it while no Wait of it is blocked, it holds the
// event: its process answers the delivery with it counted as held, and if
// Redis counts the hold (no waiter had returned the event), hold names
// the delivery, which Wait must consume and Cancel release (see
// holdScript). A Wait blocked when the delivery takes it returns the
// event: it is answered as returned, and nothing is held.
type registration struct {
	b     *Bus
	w     *waiter       // set by add before w is pending; read-only after
	state int           // guarded by b.mu
	why   error         // why it left; guarded by b.mu
	wait  int           // Waits blocked on it; guarded by b.mu
	moved chan struct{} // closed and replaced when it registers again; guarded by b.mu
}

// A registration's states.
const (
	regWaiting  = iota // pending, or taken by a delivery: see w.ready
	regReturned        // a Wait returned its event (or settle marked it so for a blocked Wait)
	regLeft            // cancelled, or a Wait's context ended before its event came
)

func (s scoped) Register(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Registration, error) {
	spec, err := waitSpec(name, opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := s.b
	r := &registration{b: b, moved: make(chan struct{})}
	w, err := b.add(s.scope, name, spec, r)
	if err != nil {
		return nil, err
	}
	defer b.calls.Done()
	rctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	a := parseRegister(b.registerCall(rctx, b.rdb, w, w.mode()))
	cancel()
	switch {
	case a.took:
		b.settle(handoff{d: a.d, ids: []string{w.id}})
	case a.err == nil:
		if a.since != "" {
			b.mu.Lock()
			w.x.since = a.since
			b.mu.Unlock()
		}
	default:
		if b.leave(w, outcomeOf(a.err)) {
			return nil, b.unavailable(ctx, "register", a.err)
		}
		// Taken by a delivery or Close meanwhile: the script registered it.
	}
	return r, nil
}

// Wait blocks until the registration's event arrives or ctx ends, as
// [eventcoord.Waiter.Wait] does.
func (r *registration) Wait(ctx context.Context) (eventcoord.Event, error) {
	b, w := r.b, r.w
	b.mu.Lock()
	for {
		if r.state == regLeft {
			b.mu.Unlock()
			return eventcoord.Event{}, r.why
		}
		select {
		case <-w.ready:
			return r.take() // unlocks b.mu
		default:
		}
		if err := ctx.Err(); err != nil {
			return r.ended(err) // unlocks b.mu
		}
		moved := r.moved
		r.wait++
		b.mu.Unlock()
		select {
		case <-w.ready:
		case <-ctx.Done():
		case <-moved:
		}
		b.mu.Lock()
		r.wait--
	}
}

// ended is Wait once its context ended (err) before the event was ready;
// it unlocks b.mu. A delivery wins: one being answered, or one an offer in
// Redis took the registration for, which may still be on its way (a
// Signal that returned may not have reached this process yet). So it asks
// Redis, withdrawing the registration unless an offer took it, and waits
// for such a delivery within the bus's timeout.
func (r *registration) ended(err error) (eventcoord.Event, error) {
	b, w := r.b, r.w
	var grace <-chan time.Time
	sure := false // Redis holds nothing of w
	if b.waiters[w.id] == w {
		id := w.id
		b.mu.Unlock()
		withdrew, werr := b.withdraw(w, id)
		if werr == nil && !withdrew {
			t := time.NewTimer(b.opts.timeout)
			defer t.Stop()
			grace = t.C
		}
		b.mu.Lock()
		sure = werr == nil && withdrew && w.id == id
	}
	for {
		if r.state == regLeft {
			b.mu.Unlock()
			return eventcoord.Event{}, r.why
		}
		select {
		case <-w.ready:
			return r.take()
		default:
		}
		if b.waiters[w.id] == w && grace == nil { // no delivery to wait for
			b.forget(w)
			r.state, r.why = regLeft, err
			b.mu.Unlock()
			if !sure {
				b.forgotten(w, unknown)
				b.nudge()
			}
			return eventcoord.Event{}, err
		}
		moved := r.moved
		r.wait++
		b.mu.Unlock()
		select {
		case <-w.ready:
		case <-grace:
			grace = nil
		case <-moved:
		}
		b.mu.Lock()
		r.wait--
	}
}

// withdraw runs the withdraw script for w, registered as id, and reports
// whether it withdrew w's registrations (false: an offer took them).
func (b *Bus) withdraw(w *waiter, id string) (bool, error) {
	if !b.begin() {
		return false, eventcoord.ErrClosed
	}
	defer b.calls.Done()
	ctx, cancel := context.WithTimeout(b.run, b.opts.timeout)
	defer cancel()
	args := b.args(id)
	for _, k := range w.keys() {
		args = append(args, k)
	}
	n, err := withdrawScript.Run(ctx, b.ctl, []string{b.prefix + ":w:" + w.key}, args...).Int64()
	return n == 1, err
}

// take returns the event of r, whose ready is closed, and unlocks b.mu. A
// held event is consumed in Redis first.
func (r *registration) take() (eventcoord.Event, error) {
	b, w := r.b, r.w
	if w.err != nil {
		b.mu.Unlock()
		return eventcoord.Event{}, w.err
	}
	r.state = regReturned
	d := b.unhold(w)
	b.mu.Unlock()
	if d != "" {
		b.holdNow("c", d)
	}
	return w.ev, nil
}

// Done returns a channel that is closed once Wait would return at once
// with the event (or ErrClosed).
func (r *registration) Done() <-chan struct{} { return r.w.ready }

// Cancel withdraws the registration; a held event is given back once no
// other holder has it and nobody returned it, before Cancel returns unless
// Redis does not answer within the bus's timeout (it is then given back in
// the background). A registration without an event is removed from Redis
// in the background.
func (r *registration) Cancel() {
	b, w := r.b, r.w
	b.mu.Lock()
	if r.state != regWaiting {
		b.mu.Unlock()
		return
	}
	r.state, r.why = regLeft, context.Canceled
	if b.waiters[w.id] == w {
		b.forget(w)
		b.mu.Unlock()
		b.forgotten(w, registered)
		b.nudge()
		return
	}
	select {
	case <-w.ready:
		if d := b.unhold(w); d != "" {
			b.mu.Unlock()
			b.holdNow("r", d)
			return
		}
	default: // being answered: settle releases it after the answer
	}
	b.mu.Unlock()
}

var _ eventcoord.Registration = (*registration)(nil)

// unhold ends w's hold in this process's books and returns the delivery
// it held, if any. b.mu must be held.
func (b *Bus) unhold(w *waiter) string {
	d := w.x.hold
	if d == "" {
		return ""
	}
	w.x.hold = ""
	if b.holding[d]--; b.holding[d] <= 0 {
		delete(b.holding, d)
	}
	return d
}

// holdNow tells Redis at once that a local Registration returned
// (mode "c") or cancelled ("r") the held delivery d; if that fails, the
// janitor tells it again.
func (b *Bus) holdNow(mode, d string) {
	if !b.begin() {
		return
	}
	defer b.calls.Done()
	ctx, cancel := context.WithTimeout(b.run, b.opts.timeout)
	defer cancel()
	if err := holdScript.Run(ctx, b.ctl, []string{b.prefix + ":fl:" + d}, b.args(mode, d)...).Err(); err != nil {
		b.warn("telling Redis of a held event failed; retrying in the background", err)
		b.mu.Lock()
		if mode == "c" {
			b.consumes = append(b.consumes, d)
		} else {
			b.releases = append(b.releases, d)
		}
		b.mu.Unlock()
		b.nudge()
	}
}
