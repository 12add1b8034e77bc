package main

import (
	"flag"
	"fmt"
	"math"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/redisbus"
)

// eventd's defaults for the bounds per key, tighter than the library's,
// which lets one scope fill the overall bounds: a server shares them among
// keys.
const (
	defaultMaxRetainedPerKey            = 1_000
	defaultMaxRetainedBytesPerKey int64 = 16 << 20
)

// bounds are eventd's limits per API key and overall (S10): retained
// events, their bytes, waits in progress, and signals per second.
type bounds struct {
	maxRetained            int
	maxRetainedPerKey      int
	maxRetainedBytes       int64
	maxRetainedBytesPerKey int64
	maxWaitsPerKey         int
	signalRatePerKey       float64
}

// flags defines the bounds' flags in fs, with their defaults.
func (b *bounds) flags(fs *flag.FlagSet) {
	fs.IntVar(&b.maxRetained, "max-retained", eventcoord.DefaultMaxRetained,
		"retained events of all keys together; beyond it the key holding the most loses its oldest")
	fs.IntVar(&b.maxRetainedPerKey, "max-retained-per-key", defaultMaxRetainedPerKey,
		"retained events of one key; beyond it the key loses its oldest")
	fs.Int64Var(&b.maxRetainedBytes, "max-retained-bytes", eventcoord.DefaultMaxRetainedBytes,
		"bytes of retained events (their JSON length) of all keys together; beyond it the key holding the most loses its oldest")
	fs.Int64Var(&b.maxRetainedBytesPerKey, "max-retained-bytes-per-key", defaultMaxRetainedBytesPerKey,
		"bytes of retained events of one key; beyond it the key loses its oldest")
	fs.IntVar(&b.maxWaitsPerKey, "max-waits-per-key", httpapi.DefaultMaxWaitsPerKey,
		"waits in progress and registrations (POST /v1/waiters) held per key; more get 429 with Retry-After; 0: no bound")
	fs.Float64Var(&b.signalRatePerKey, "signal-rate-per-key", 0,
		"signals, clears and lists per second per key, together, in bursts of a second's worth; more get 429 with Retry-After; 0: no limit")
}

// check reports a bound that makes no sense.
func (b bounds) check() error {
	switch {
	case b.maxRetained < 1:
		return fmt.Errorf("-max-retained %d: want at least 1", b.maxRetained)
	case b.maxRetainedPerKey < 1:
		return fmt.Errorf("-max-retained-per-key %d: want at least 1", b.maxRetainedPerKey)
	case b.maxRetainedBytes < 1:
		return fmt.Errorf("-max-retained-bytes %d: want at least 1", b.maxRetainedBytes)
	case b.maxRetainedBytesPerKey < 1:
		return fmt.Errorf("-max-retained-bytes-per-key %d: want at least 1", b.maxRetainedBytesPerKey)
	case b.maxWaitsPerKey < 0:
		return fmt.Errorf("-max-waits-per-key %d: want 0 (no bound) or more", b.maxWaitsPerKey)
	case !(b.signalRatePerKey >= 0) || math.IsInf(b.signalRatePerKey, 1): // NaN too
		return fmt.Errorf("-signal-rate-per-key %v: want 0 (no limit) or a positive number", b.signalRatePerKey)
	}
	return nil
}

// coordinatorOptions are the bounds of an in-memory Coordinator.
func (b bounds) coordinatorOptions() []eventcoord.Option {
	return []eventcoord.Option{
		eventcoord.WithMaxRetained(b.maxRetained),
		eventcoord.WithMaxRetainedPerScope(b.maxRetainedPerKey),
		eventcoord.WithMaxRetainedBytes(b.maxRetainedBytes),
		eventcoord.WithMaxRetainedBytesPerScope(b.maxRetainedBytesPerKey),
	}
}

// redisOptions are the same bounds for the events retained in Redis.
func (b bounds) redisOptions() []redisbus.Option {
	return []redisbus.Option{
		redisbus.WithMaxRetained(b.maxRetained),
		redisbus.WithMaxRetainedPerScope(b.maxRetainedPerKey),
		redisbus.WithMaxRetainedBytes(b.maxRetainedBytes),
		redisbus.WithMaxRetainedBytesPerScope(b.maxRetainedBytesPerKey),
	}
}

// handlerOptions are the limits the HTTP handler keeps per key, whatever
// the backend.
func (b bounds) handlerOptions() []httpapi.Option {
	return []httpapi.Option{
		httpapi.WithMaxWaitsPerKey(b.maxWaitsPerKey),
		httpapi.WithSignalRatePerKey(b.signalRatePerKey),
	}
}
