package redisbus

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds the deliveries answered in one round trip.
const maxBatch = 256

// receive reads this process's channel and passes what it gets to
// process, which answers deliveries in batches: under load, one round trip
// answers every delivery that arrived while the previous answers were on
// their way (with appendfsync always, each round trip waits for a disk
// sync).
func (b *Bus) receive() {
	in := make(chan any, 4*maxBatch)
	b.done.Go(func() { b.process(in) })
	defer close(in)
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
		in <- m
	}
}

// process hands deliveries to their waiters. After a reconnect (a new
// subscription confirmation) it has the janitor register the local
// waiters again, since Redis may have lost them or dropped them while
// this process was away.
func (b *Bus) process(in <-chan any) {
	batch := make([]handoff, 0, maxBatch)
	for m := range in {
		batch = b.take(batch[:0], m)
	more:
		for len(batch) < maxBatch {
			select {
			case m, ok := <-in:
				if !ok {
					break more
				}
				batch = b.take(batch, m)
			default:
				break more
			}
		}
		if len(batch) > 0 {
			b.settle(batch...)
		}
	}
}

// take adds message m to batch if it is a delivery.
func (b *Bus) take(batch []handoff, m any) []handoff {
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
			break
		}
		batch = append(batch, handoff{d: d, ids: d.waiters})
	}
	return batch
}
