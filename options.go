package eventcoord

import (
	"fmt"
	"time"
)

// An Option configures a Coordinator made by [New].
type Option interface{ apply(*config) }

type config struct {
	shards      int
	ttl         time.Duration
	maxRetained int
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithShards sets the number of shards the names are spread over, rounded
// up to a power of two (default DefaultShards, at most 65536). Operations
// on names in different shards never contend. It panics if n < 1.
func WithShards(n int) Option {
	if n < 1 || n > maxShards {
		panic(fmt.Sprintf("eventcoord: WithShards(%d): want 1 to %d", n, maxShards))
	}
	return optionFunc(func(c *config) { c.shards = n })
}

// WithRetention sets how long an event that found no waiter is kept for the
// next one (default DefaultRetention). Zero turns retention off: such an
// event is counted as expired at once. It panics if ttl < 0.
func WithRetention(ttl time.Duration) Option {
	if ttl < 0 {
		panic(fmt.Sprintf("eventcoord: WithRetention(%v): negative", ttl))
	}
	return optionFunc(func(c *config) { c.ttl = ttl })
}

// WithMaxRetained bounds the number of retained events over all names
// (default DefaultMaxRetained). When a new retained event would exceed it,
// the oldest retained event of the new event's shard is evicted, which may
// be the new event itself if its shard holds no other. It panics if n < 1.
func WithMaxRetained(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("eventcoord: WithMaxRetained(%d): want at least 1", n))
	}
	return optionFunc(func(c *config) { c.maxRetained = n })
}
