package redisbus

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"
)

// janitor does in the background what no caller should wait for: it
// removes the registrations of waiters that left, tells Redis what
// Registrations did with held events, registers the local waiters again
// after a reconnect, renews the leases of local registrations and holds,
// counts the retained events that expired, and offers again the
// deliveries nobody answered.
func (b *Bus) janitor() {
	t := time.NewTicker(b.opts.tick)
	defer t.Stop()
	var renewed time.Time
	for {
		tick := false
		select {
		case <-b.run.Done():
			return
		case <-b.wake:
		case <-t.C:
			tick = true
		}
		ctx, cancel := context.WithTimeout(b.run, b.opts.timeout)
		b.answerAgain(ctx)
		b.unregister(ctx)
		b.flushHolds(ctx)
		b.reregister(ctx)
		if tick && time.Since(renewed) >= b.opts.lease/3 {
			b.renew(ctx)
			renewed = time.Now()
		}
		if tick {
			if _, err := sweepScript.Run(ctx, b.ctl, []string{b.prefix + ":rx"}, b.args()...).Result(); err != nil {
				b.warn("counting expired events failed", err)
			}
			if _, err := redeliverScript.Run(ctx, b.ctl, []string{b.prefix + ":fld"}, b.args(max(2*b.opts.tick, 2*time.Second).Milliseconds())...).Result(); err != nil {
				b.warn("offering late deliveries again failed", err)
			}
		}
		cancel()
	}
}

// nudge wakes the janitor.
func (b *Bus) nudge() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Bus) warn(what string, err error) {
	if b.run.Err() == nil {
		b.log.Warn("redisbus: "+what, "err", err)
	}
}

// answerAgain answers the deliveries whose answers' fate was unknown.
// An answer is idempotent: once Redis has one, the delivery is gone and
// later ones change nothing.
func (b *Bus) answerAgain(ctx context.Context) {
	b.mu.Lock()
	todo := maps.Clone(b.unanswered)
	b.mu.Unlock()
	for d, n := range todo {
		if err := ackScript.Run(ctx, b.ctl, []string{b.prefix + ":fl:" + d}, b.args(d, n[0], n[1])...).Err(); err != nil {
			b.warn("answering a delivery again failed; retrying", err)
			return
		}
		b.mu.Lock()
		delete(b.unanswered, d)
		b.mu.Unlock()
	}
}

// maxArgs bounds the arguments of one abandon or hold script call.
const maxArgs = 1000

// unregister removes the registrations of waiters that left and offers
// again what they took without hearing it. What fails is kept for the next
// round; a registration that outlives its waiter costs one round trip when
// a signal finds it, never an event.
func (b *Bus) unregister(ctx context.Context) {
	b.mu.Lock()
	gone := b.gone
	b.gone = nil
	b.mu.Unlock()
	for len(gone) > 0 {
		args, n := b.args(), 0
		for ; n < len(gone) && (n == 0 || len(args) < maxArgs); n++ {
			args = append(args, gone[n].id, len(gone[n].keys))
			for _, k := range gone[n].keys {
				args = append(args, k)
			}
		}
		if err := abandonScript.Run(ctx, b.ctl, []string{b.prefix + ":w:" + gone[0].keys[0]}, args...).Err(); err != nil {
			b.warn("removing registrations failed; retrying", err)
			b.mu.Lock()
			b.gone = append(b.gone, gone...)
			b.mu.Unlock()
			return
		}
		gone = gone[n:]
	}
}

// flushHolds tells Redis which held deliveries local Registrations
// returned or cancelled. What fails is kept for the next round.
func (b *Bus) flushHolds(ctx context.Context) {
	for _, op := range []struct {
		mode string
		list *[]string
	}{{"c", &b.consumes}, {"r", &b.releases}} {
		b.mu.Lock()
		ds := *op.list
		*op.list = nil
		b.mu.Unlock()
		for len(ds) > 0 {
			n := min(len(ds), maxArgs)
			args := b.args(op.mode)
			for _, d := range ds[:n] {
				args = append(args, d)
			}
			if err := holdScript.Run(ctx, b.ctl, []string{b.prefix + ":fl:" + ds[0]}, args...).Err(); err != nil {
				b.warn("telling Redis of held events failed; retrying", err)
				b.mu.Lock()
				*op.list = append(*op.list, ds...)
				b.mu.Unlock()
				return
			}
			ds = ds[n:]
		}
	}
}

// reregister runs the register step again: for every local waiter after a
// reconnect, else for the Registrations whose delivery fell through. A
// key's plain waiters go together: they take the event retained meanwhile
// (all of them, as one fan-out), or are registered again; fresh and
// any-of waiters and Registrations go one by one.
func (b *Bus) reregister(ctx context.Context) {
	b.mu.Lock()
	var ws []*waiter
	if b.resync {
		ws = slices.Collect(maps.Values(b.waiters))
	} else {
		for _, w := range b.retry {
			if b.waiters[w.id] == w {
				ws = append(ws, w)
			}
		}
	}
	b.resync, b.retry = false, nil
	b.mu.Unlock()
	plain := map[string][]*waiter{}
	var single []*waiter
	for _, w := range ws {
		if w.x != nil {
			single = append(single, w)
		} else {
			plain[w.key] = append(plain[w.key], w)
		}
	}
	groups := slices.Collect(maps.Values(plain))
	for _, w := range single {
		groups = append(groups, []*waiter{w})
	}
	for _, g := range groups {
		if !b.registerAgain(ctx, g) {
			b.mu.Lock()
			b.resync = true
			b.mu.Unlock()
			return
		}
	}
}

// registerAgain runs the register script for waiters g (of one key, or
// one fresh or any-of waiter), and reports whether Redis answered.
func (b *Bus) registerAgain(ctx context.Context, g []*waiter) bool {
	w := g[0]
	b.mu.Lock()
	var since string
	if w.x != nil {
		since = w.x.since
	}
	args := b.args(b.id, w.mode(), since, 1+len(w.or()), w.key)
	for _, k := range w.or() {
		args = append(args, k)
	}
	ids := make([]string, len(g))
	for i, w := range g {
		ids[i] = w.id
		args = append(args, w.id)
	}
	b.mu.Unlock()
	a := parseRegister(registerScript.Run(ctx, b.ctl, []string{b.prefix + ":w:" + w.key}, args...).Text())
	switch {
	case a.took:
		b.settle(handoff{d: a.d, ids: ids})
	case errors.Is(a.err, errMalformed):
		b.log.Error("redisbus: dropping an undecodable retained event", "err", a.err)
	case a.err != nil:
		b.warn("registering waiters again failed; retrying", a.err)
		return false
	default:
		b.mu.Lock()
		if a.since != "" && w.x.since == "" {
			w.x.since = a.since
		}
		for _, w := range g { // left meanwhile: registered for nobody
			if b.waiters[w.id] != w {
				b.gone = append(b.gone, removal{w.id, w.keys()})
			}
		}
		b.mu.Unlock()
	}
	return true
}

// renew extends the leases of the registrations of local waiters, of
// their scopes' name indexes, and of the deliveries local Registrations
// hold.
func (b *Bus) renew(ctx context.Context) {
	var items [][]any // see renewScript
	b.mu.Lock()
	scopes := map[string]bool{}
	for k := range b.byKey {
		items = append(items, []any{"k", k})
	}
	for _, w := range b.waiters {
		if !scopes[w.sk] {
			scopes[w.sk] = true
			items = append(items, []any{"s", w.sk})
		}
	}
	for d := range b.holding {
		items = append(items, []any{"d", d})
	}
	b.mu.Unlock()
	for len(items) > 0 {
		args := b.args()
		n := 0
		for ; n < len(items) && len(args) < maxArgs; n++ {
			args = append(args, items[n]...)
		}
		if err := renewScript.Run(ctx, b.ctl, []string{b.prefix + ":ctr"}, args...).Err(); err != nil {
			b.warn("renewing registrations failed", err)
			return
		}
		items = items[n:]
	}
}
