package eventcoord

import (
	"fmt"
	"time"
)

// An Option configures a Coordinator made by [New].
type Option interface{ apply(*config) }

type config struct {
	shards                   int
	ttl                      time.Duration
	maxRetained              int
	maxRetainedPerScope      int
	maxRetainedBytes         int64
	maxRetainedBytesPerScope int64
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

// WithMaxRetained bounds the number of retained events over all names and
// scopes (default DefaultMaxRetained). When a new retained event exceeds
// it, the scope holding the most retained events pays (the new event's
// scope on a tie): its oldest retained event is evicted, which may be the
// new event itself. So one scope's flood evicts another scope's events only
// once that scope holds more than the flooding one (S10). It panics if
// n < 1.
func WithMaxRetained(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("eventcoord: WithMaxRetained(%d): want at least 1", n))
	}
	return optionFunc(func(c *config) { c.maxRetained = n })
}

// WithMaxRetainedPerScope bounds the number of retained events of each
// scope (default DefaultMaxRetainedPerScope). When a new retained event
// exceeds it, the oldest retained event of the same scope is evicted,
// which may be the new event itself; other scopes are never touched. It
// panics if n < 1.
func WithMaxRetainedPerScope(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("eventcoord: WithMaxRetainedPerScope(%d): want at least 1", n))
	}
	return optionFunc(func(c *config) { c.maxRetainedPerScope = n })
}

// WithMaxRetainedBytes bounds the size of the retained events over all
// names and scopes (default DefaultMaxRetainedBytes), where an event's size
// is the length of its data's JSON encoding. When a new retained event
// exceeds it, the scope holding the most bytes pays (the new event's scope
// on a tie): its oldest retained events are evicted until the bound holds
// again. An event larger than the bound on its own is evicted at once. It
// panics if n < 1.
func WithMaxRetainedBytes(n int64) Option {
	if n < 1 {
		panic(fmt.Sprintf("eventcoord: WithMaxRetainedBytes(%d): want at least 1", n))
	}
	return optionFunc(func(c *config) { c.maxRetainedBytes = n })
}

// WithMaxRetainedBytesPerScope bounds the size (as in WithMaxRetainedBytes)
// of each scope's retained events (default
// DefaultMaxRetainedBytesPerScope). When a new retained event exceeds it,
// the oldest retained events of the same scope are evicted until the bound
// holds again; other scopes are never touched. An event larger than the
// bound on its own is evicted at once. It panics if n < 1.
func WithMaxRetainedBytesPerScope(n int64) Option {
	if n < 1 {
		panic(fmt.Sprintf("eventcoord: WithMaxRetainedBytesPerScope(%d): want at least 1", n))
	}
	return optionFunc(func(c *config) { c.maxRetainedBytesPerScope = n })
}
