package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventcoord/eventcoord"
)

// Defaults of a Handler made without options.
const (
	DefaultMaxWait     = 10 * time.Minute // ceiling on a wait's timeoutMs
	DefaultWait        = 60 * time.Second // Anchor's default timeoutMs
	DefaultMaxBody     = 1 << 20
	DefaultBodyTimeout = 30 * time.Second
)

// An Option configures a Handler made by [New].
type Option interface{ apply(*config) }

type config struct {
	keys        []string
	maxWait     time.Duration
	maxBody     int64
	bodyTimeout time.Duration
	log         *slog.Logger
	registry    *prometheus.Registry
	stats       func() eventcoord.Stats
	health      func(context.Context) error

	maxWaitsPerKey   int     // see limits.go
	signalRatePerKey float64 // see limits.go
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithKeys sets the accepted API keys, each its own scope. Without keys the
// handler runs in open mode: any non-empty key is accepted and is its own
// scope, which is only safe on loopback (cmd/eventd enforces that).
func WithKeys(keys []string) Option { return optionFunc(func(c *config) { c.keys = keys }) }

// WithMaxWait sets the ceiling on a wait's timeoutMs (default
// DefaultMaxWait); a longer timeout is clamped to it.
func WithMaxWait(d time.Duration) Option { return optionFunc(func(c *config) { c.maxWait = d }) }

// WithMaxBody sets the largest accepted request body in bytes (default
// DefaultMaxBody); a larger one is answered with 413.
func WithMaxBody(n int64) Option { return optionFunc(func(c *config) { c.maxBody = n }) }

// WithBodyTimeout bounds the time a client may take to send its request
// body (default DefaultBodyTimeout), so trickling clients cannot hold the
// server.
func WithBodyTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.bodyTimeout = d })
}

// WithLogger sets the logger; requests are logged at debug level. The
// default discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.log = l }) }

// WithRegistry sets the Prometheus registry the handler registers its
// metrics in and serves at /metrics. The default is a new registry with the
// Go and process collectors.
func WithRegistry(r *prometheus.Registry) Option {
	return optionFunc(func(c *config) { c.registry = r })
}

// WithStats exposes a Coordinator's Stats in /metrics (waiters, retained
// events, signal outcomes).
func WithStats(f func() eventcoord.Stats) Option { return optionFunc(func(c *config) { c.stats = f }) }

// WithHealth sets the check behind /healthz; an error makes it answer 503.
func WithHealth(f func(context.Context) error) Option {
	return optionFunc(func(c *config) { c.health = f })
}
