package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/redisbus"
)

// backend is where eventd keeps events: in memory, or on Redis shared with
// other eventd processes.
type backend struct {
	name   string
	scope  func(scope string) eventcoord.Events
	stats  func() eventcoord.Stats
	health func(context.Context) error
	close  func()
}

// redisConnectTimeout bounds the wait for Redis at start.
const redisConnectTimeout = 5 * time.Second

func openBackend(ctx context.Context, cfg config, log *slog.Logger) (backend, error) {
	if cfg.redisURL == "" {
		c := eventcoord.New(append(cfg.bounds.coordinatorOptions(), eventcoord.WithRetention(cfg.retention))...)
		return backend{
			name:   "memory",
			scope:  func(scope string) eventcoord.Events { return c.Scope(scope).Events() },
			stats:  c.Stats,
			health: func(context.Context) error { return nil },
			close:  func() { c.Close() },
		}, nil
	}
	opts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return backend{}, fmt.Errorf("-redis: %w", err) // go-redis does not echo the URL's password
	}
	redis.SetLogger(redisLog{log})
	rdb := redis.NewClient(opts)
	cctx, cancel := context.WithTimeout(ctx, redisConnectTimeout)
	defer cancel()
	bus, err := redisbus.New(cctx, rdb, append(cfg.bounds.redisOptions(),
		redisbus.WithRetention(cfg.retention), redisbus.WithTimeout(cfg.redisTimeout), redisbus.WithLogger(log))...)
	if err != nil {
		rdb.Close()
		return backend{}, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	return backend{
		name:   "redis " + opts.Addr,
		scope:  bus.Scope,
		stats:  bus.Stats,
		health: bus.Ping,
		close: func() {
			bus.Close()
			rdb.Close()
		},
	}, nil
}

// redisLog sends go-redis's own messages to eventd's log.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
