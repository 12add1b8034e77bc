package redisbus

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// receive hands each delivery on this process's channel to its waiters.
// After a reconnect (a new subscription confirmation) it has the janitor
// register the local waiters again, since Redis may have lost them or
// dropped them while this process was away.
func (b *Bus) receive() {
	for {
		m, err := b.pubsub.Receive(b.run)
		if err != nil {
			if b.run.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			b.log.Warn("redisbus: subscription lost; reconnecting", "err", err)
			select { // go-redis reconnects on the next Receive; don't spin
			case <-b.run.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.mu.Lock()
				b.resync = true
				b.mu.Unlock()
				b.nudge()
			}
		case *redis.Message:
			d, err := parseDelivery(m.Payload)
			if err != nil {
				b.log.Error("redisbus: ignoring an undecodable delivery", "err", err)
				continue
			}
			b.settle(d, d.waiters)
		}
	}
}
