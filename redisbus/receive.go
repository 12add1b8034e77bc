package redisbus

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// receive hands each message on this process's channel to its local
// waiters and reports back to Redis. After a reconnect (a new subscription
// confirmation) it re-registers the local waiters, since Redis may have
// restarted without them.
func (b *Bus) receive(ctx context.Context) {
	for {
		m, err := b.pubsub.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			b.log.Warn("redisbus: subscription lost; reconnecting", "err", err)
			select { // go-redis reconnects on the next Receive; don't spin
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.resync(ctx)
			}
		case *redis.Message:
			b.deliver(ctx, m.Payload)
		}
	}
}

// deliver wakes the local waiters of the message's key and tells Redis how
// many it woke.
func (b *Bus) deliver(ctx context.Context, payload string) {
	scope, ev, err := decode(payload)
	if err != nil {
		b.log.Error("redisbus: dropping an undecodable message", "err", err)
		return
	}
	k := b.key(scope, ev.Name)
	b.mu.Lock()
	g := b.groups[k]
	woken := 0
	if g != nil {
		delete(b.groups, k)
		g.ev = ev
		woken = g.n
		close(g.ready)
	}
	b.mu.Unlock()
	b.woken.Add(uint64(woken))
	err = ackScript.Run(ctx, b.rdb,
		[]string{b.prefix + ":w:" + k, b.prefix + ":r:" + k, b.prefix + ":pend:" + strconv.FormatUint(ev.Seq, 10)},
		b.prefix, b.id, woken, payload, ev.Seq, b.ttl.Milliseconds()).Err()
	if err != nil && ctx.Err() == nil {
		b.log.Warn("redisbus: acknowledging a message failed", "seq", ev.Seq, "err", err)
	}
}

// resync marks the process alive and sets its waiter counts in Redis from
// the local groups.
func (b *Bus) resync(ctx context.Context) {
	if err := b.markAlive(ctx); err != nil {
		b.log.Warn("redisbus: resync failed", "err", err)
		return
	}
	b.mu.Lock()
	counts := make(map[string]int, len(b.groups))
	for k, g := range b.groups {
		counts[k] = g.n
	}
	b.mu.Unlock()
	for k, n := range counts {
		if err := syncScript.Run(ctx, b.rdb, []string{b.prefix + ":w:" + k}, b.id, n).Err(); err != nil {
			b.log.Warn("redisbus: resync failed", "err", err)
			return
		}
	}
}

// beat keeps the process's alive key fresh.
func (b *Bus) beat(ctx context.Context) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.markAlive(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("redisbus: heartbeat failed", "err", err)
			}
		}
	}
}

func (b *Bus) markAlive(ctx context.Context) error {
	return b.rdb.Set(ctx, b.prefix+":alive:"+b.id, 1, aliveTTL).Err()
}
