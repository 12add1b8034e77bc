package redisbus

import (
	"log/slog"
	"time"
)

// options is a Bus's configuration: defaults set by New, then the
// options applied.
type options struct {
	prefix    string
	ttl       time.Duration
	timeout   time.Duration
	redeliver time.Duration
	lease     time.Duration
	tick      time.Duration // janitor period
	log       *slog.Logger
	limits    [4]int64 // max retained, per scope, max bytes, per scope
}

// An Option configures a Bus made by [New].
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithPrefix sets the prefix of every Redis key and channel the bus uses
// (default DefaultPrefix), so that several deployments can share a Redis.
func WithPrefix(p string) Option { return optionFunc(func(o *options) { o.prefix = p }) }

// WithRetention sets how long a signal nobody waits for is kept in Redis
// (default eventcoord.DefaultRetention); 0 keeps none.
func WithRetention(ttl time.Duration) Option { return optionFunc(func(o *options) { o.ttl = ttl }) }

// WithTimeout bounds every Redis call the bus makes (default
// DefaultTimeout): a Signal that Redis does not answer in time fails with
// an error wrapping eventcoord.ErrUnavailable.
func WithTimeout(d time.Duration) Option { return optionFunc(func(o *options) { o.timeout = d }) }

// WithRedeliver sets how long a delivery may go unanswered by the
// processes it was published to (they died, or the answer was lost)
// before it is offered again (default DefaultRedeliver).
func WithRedeliver(d time.Duration) Option { return optionFunc(func(o *options) { o.redeliver = d }) }

// WithMaxRetained bounds the events retained in Redis over all scopes
// (default eventcoord.DefaultMaxRetained). Beyond it, the oldest event of
// the scope holding the most is evicted.
func WithMaxRetained(n int) Option { return optionFunc(func(o *options) { o.limits[0] = int64(n) }) }

// WithMaxRetainedPerScope bounds the events one scope retains (default
// eventcoord.DefaultMaxRetainedPerScope); beyond it the scope's oldest is
// evicted.
func WithMaxRetainedPerScope(n int) Option {
	return optionFunc(func(o *options) { o.limits[1] = int64(n) })
}

// WithMaxRetainedBytes bounds the bytes of retained events over all scopes
// (default eventcoord.DefaultMaxRetainedBytes); beyond it the oldest event
// of the scope holding the most bytes is evicted. An event's size is the
// length of its data's JSON encoding, as in-process.
func WithMaxRetainedBytes(n int64) Option { return optionFunc(func(o *options) { o.limits[2] = n }) }

// WithMaxRetainedBytesPerScope bounds the bytes one scope retains (default
// eventcoord.DefaultMaxRetainedBytesPerScope); beyond it the scope's
// oldest is evicted.
func WithMaxRetainedBytesPerScope(n int64) Option {
	return optionFunc(func(o *options) { o.limits[3] = n })
}

// WithLogger sets the logger for connection trouble (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.log = l }) }
