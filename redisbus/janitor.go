package redisbus

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// janitor does in the background what no caller should wait for: it
// removes the registrations of waiters that left, registers the local
// waiters again after a reconnect, renews the leases of the registrations
// of local waiters, counts the retained events that expired, and offers
// again the deliveries nobody answered.
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
	for d, woken := range todo {
		if err := ackScript.Run(ctx, b.ctl, []string{b.prefix + ":fl:" + d}, b.args(d, woken)...).Err(); err != nil {
			b.warn("answering a delivery again failed; retrying", err)
			return
		}
		b.mu.Lock()
		delete(b.unanswered, d)
		b.mu.Unlock()
	}
}

// unregister removes the registrations of waiters that left and offers
// again what they took without hearing it. What fails is kept for the next
// round; a registration that outlives its waiter costs one round trip when
// a signal finds it, never an event.
func (b *Bus) unregister(ctx context.Context) {
	b.mu.Lock()
	gone := b.gone
	if len(gone) == 0 {
		b.mu.Unlock()
		return
	}
	b.gone = map[string][]string{}
	b.mu.Unlock()
	for k, ids := range gone {
		args := b.args(k)
		for _, id := range ids {
			args = append(args, id)
		}
		if err := abandonScript.Run(ctx, b.ctl, []string{b.prefix + ":w:" + k}, args...).Err(); err != nil {
			b.warn("removing registrations failed; retrying", err)
			b.mu.Lock()
			for k, ids := range gone {
				b.gone[k] = append(b.gone[k], ids...)
			}
			b.mu.Unlock()
			return
		}
		delete(gone, k)
	}
}

// reregister runs, after a reconnect, the register step again for each
// key's local waiters together: they take the event retained meanwhile,
// or are registered again.
func (b *Bus) reregister(ctx context.Context) {
	b.mu.Lock()
	if !b.resync {
		b.mu.Unlock()
		return
	}
	b.resync = false
	groups := make(map[string][]string, len(b.byKey))
	for k, g := range b.byKey {
		for id := range g {
			groups[k] = append(groups[k], id)
		}
	}
	b.mu.Unlock()
	for k, ids := range groups {
		args := b.args(scopeKeyOf(k), k, b.id, "wait")
		for _, id := range ids {
			args = append(args, id)
		}
		res, err := registerScript.Run(ctx, b.ctl, []string{b.prefix + ":w:" + k}, args...).Text()
		switch {
		case errors.Is(err, redis.Nil):
			b.mu.Lock()
			for _, id := range ids { // left meanwhile: registered for nobody
				if b.waiters[id] == nil {
					b.gone[k] = append(b.gone[k], id)
				}
			}
			b.mu.Unlock()
		case err != nil:
			b.warn("registering waiters again failed; retrying", err)
			b.mu.Lock()
			b.resync = true
			b.mu.Unlock()
			return
		default:
			d, perr := parseDelivery(res)
			if perr != nil {
				b.log.Error("redisbus: dropping an undecodable retained event", "err", perr)
				continue
			}
			b.settle(handoff{d: d, ids: ids})
		}
	}
}

// renew extends the leases of the registrations of local waiters.
func (b *Bus) renew(ctx context.Context) {
	b.mu.Lock()
	keys := make([]string, 0, len(b.byKey))
	for k := range b.byKey {
		keys = append(keys, k)
	}
	b.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	_, err := b.ctl.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.PExpire(ctx, b.prefix+":w:"+k, b.opts.lease)
		}
		return nil
	})
	if err != nil {
		b.warn("renewing registrations failed", err)
	}
}

// scopeKeyOf returns the scope part of a key made by Bus.key.
func scopeKeyOf(k string) string {
	n, rest, _ := strings.Cut(k, ":")
	l := 0
	for _, c := range n {
		l = l*10 + int(c-'0')
	}
	return n + ":" + rest[:l]
}
