package redisbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/eventcoord/eventcoord"
)

// Defaults of a Bus made without options.
const (
	DefaultPrefix    = "eventcoord"
	DefaultTimeout   = 2 * time.Second  // bound on one Redis call
	DefaultRedeliver = 5 * time.Second  // an unanswered delivery is offered again after this
	DefaultLease     = 30 * time.Second // a registration lives this long unless its process renews it
)

// Bus coordinates events across processes through one Redis. Each process
// keeps its waiters in memory and fans out locally; Redis holds the
// registrations, the retained events and the deliveries in flight. The
// protocol is described in the package doc.
//
// A Bus is safe for concurrent use. Close it to stop its goroutines and
// wake its waiters.
type Bus struct {
	rdb    *redis.Client // the bus's own client: no retries, deadlines from contexts
	ctl    *redis.Client // the same, with a pool of its own for answers and the janitor, which must not queue behind waits
	prefix string
	id     string // this process's ID in Redis
	conf   []any  // the arguments every script starts with
	opts   options
	log    *slog.Logger
	pubsub *redis.PubSub

	mu         sync.Mutex
	waiters    map[string]*waiter            // pending local waiters by ID; guarded by mu
	byKey      map[string]map[string]*waiter // the same, by Redis key (an any-of wait under each); guarded by mu
	gone       []removal                     // registrations to remove; guarded by mu
	unanswered map[string][2]int             // deliveries to answer again: ID -> woken, held; guarded by mu
	holding    map[string]int                // deliveries local Registrations hold, counted in Redis: ID -> holders; guarded by mu
	consumes   []string                      // held deliveries returned, to tell Redis again; guarded by mu
	releases   []string                      // held deliveries cancelled, to tell Redis; guarded by mu
	retry      []*waiter                     // Registrations' waiters to register again; guarded by mu
	shared     eventcoord.Stats              // the last shared totals read; guarded by mu
	resync     bool                          // every local waiter must register again; guarded by mu
	closed     bool                          // guarded by mu
	nextID     uint64                        // guarded by mu

	signals atomic.Uint64 // accepted signals sent from this process
	woken   atomic.Uint64 // local waiters woken

	wake  chan struct{} // nudges the janitor
	stop  context.CancelFunc
	run   context.Context // ends at Close
	done  sync.WaitGroup  // the receiver and the janitor
	calls sync.WaitGroup  // signals, polls and register scripts in flight
}

// New connects a Bus to Redis with rdb's options. The bus opens its own
// connections, with retries off (a script retried after a lost reply could
// run twice) and context deadlines honoured; it never closes rdb. New
// fails if Redis cannot be reached within ctx, and returns once it is
// subscribed, so that every signal sent after New returns can reach its
// waiters.
func New(ctx context.Context, rdb *redis.Client, opts ...Option) (*Bus, error) {
	o := options{
		prefix: DefaultPrefix, ttl: eventcoord.DefaultRetention, timeout: DefaultTimeout,
		redeliver: DefaultRedeliver, lease: DefaultLease, tick: time.Second,
		log: slog.New(slog.DiscardHandler),
		limits: [4]int64{eventcoord.DefaultMaxRetained, eventcoord.DefaultMaxRetainedPerScope,
			eventcoord.DefaultMaxRetainedBytes, eventcoord.DefaultMaxRetainedBytesPerScope},
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	ro := *rdb.Options()
	ro.MaxRetries = -1
	ro.ContextTimeoutEnabled = true
	ro.DialerRetries = 1 // a dial failure is the caller's answer, not worth 500 ms of retries
	// Per-client state that a copy must not share with rdb.
	ro.PushNotificationProcessor = nil
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	ro.ClientSideCache, ro.ClientSideCacheConfig = nil, nil
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	co := ro
	co.PoolSize, co.MinIdleConns, co.MaxIdleConns, co.MaxActiveConns = 4, 0, 4, 0
	b := &Bus{
		rdb: redis.NewClient(&ro), ctl: redis.NewClient(&co), prefix: o.prefix, id: hex.EncodeToString(id[:]), opts: o, log: o.log,
		waiters: map[string]*waiter{}, byKey: map[string]map[string]*waiter{}, unanswered: map[string][2]int{}, holding: map[string]int{},
		wake: make(chan struct{}, 1),
	}
	b.conf = []any{o.prefix, o.ttl.Milliseconds(), o.redeliver.Milliseconds(), o.lease.Milliseconds(),
		o.limits[0], o.limits[1], o.limits[2], o.limits[3]}
	b.pubsub = b.rdb.Subscribe(ctx, b.prefix+":proc:"+b.id)
	if _, err := b.pubsub.Receive(ctx); err != nil { // the subscription's confirmation
		b.pubsub.Close()
		b.rdb.Close()
		b.ctl.Close()
		return nil, fmt.Errorf("%w: redis subscribe: %w", eventcoord.ErrUnavailable, err)
	}
	b.run, b.stop = context.WithCancel(context.Background())
	b.done.Go(b.receive)
	b.done.Go(b.janitor)
	return b, nil
}

// Scope returns the events of scope id: the same name in two scopes is two
// unrelated events, in Redis as in memory.
func (b *Bus) Scope(id string) eventcoord.Events { return scoped{b, id} }

// Events returns the events of the default (empty) scope.
func (b *Bus) Events() eventcoord.Events { return b.Scope("") }

// Ping checks the connection to Redis, for health checks.
func (b *Bus) Ping(ctx context.Context) error { return b.rdb.Ping(ctx).Err() }

// Stats reports this process's waiters (Waiters, Names, Woken) and the
// shared totals in Redis of every process (Signals, Delivered, Retained,
// RetainedBytes, Expired, Replaced, Evicted, EvictedBy, Cleared); when
// Redis cannot be read within the bus's timeout, those are the last read
// (zero before the first). When every process is idle,
//
//	Signals == Delivered + Retained + Expired + Replaced + Evicted + Cleared
//
// holds for the shared totals, as in one process. Expiries are counted
// by the janitors within about a second.
func (b *Bus) Stats() eventcoord.Stats {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.timeout)
	defer cancel()
	v, err := statsScript.Run(ctx, b.ctl, []string{b.prefix + ":stat", b.prefix + ":rt"}).Int64Slice()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.warn("reading the shared counters failed; reporting the last read", err)
	} else {
		b.shared = eventcoord.Stats{Signals: uint64(v[0]), Delivered: uint64(v[1]), Expired: uint64(v[2]),
			Replaced: uint64(v[3]), Evicted: uint64(v[4]),
			EvictedBy: eventcoord.Evictions{ScopeCount: uint64(v[5]), ScopeBytes: uint64(v[6]), Count: uint64(v[7]), Bytes: uint64(v[8])},
			Retained:  int(v[9]), RetainedBytes: v[10], Cleared: uint64(v[11])}
	}
	s := b.shared
	s.Waiters, s.Names, s.Woken = len(b.waiters), len(b.byKey), b.woken.Load()
	return s
}

// Close wakes this process's waiters with eventcoord.ErrClosed, removes
// their registrations from Redis (best effort: a registration of a process
// that is gone is dropped by the next signal anyway), tells Redis what its
// Registrations returned or cancelled, and stops the bus's goroutines. A
// Registration holding an event keeps it: its Wait returns it, and its
// Cancel can no longer give it back. Deliveries in flight to this process
// are offered again by the other processes. It does not close the client
// given to New. Close is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, w := range b.waiters {
		b.forget(w)
		b.gone = append(b.gone, removal{w.id, w.keys()})
		w.err = eventcoord.ErrClosed
		close(w.ready)
	}
	b.mu.Unlock()
	b.stop()
	err := b.pubsub.Close()
	b.done.Wait()
	b.calls.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.timeout)
	defer cancel()
	b.unregister(ctx)
	b.flushHolds(ctx)
	b.rdb.Close()
	b.ctl.Close()
	return err
}

type scoped struct {
	b     *Bus
	scope string
}

// key is the Redis key of scope and name. The scope's length comes first,
// so no scope and name can spell another scope's key.
func (b *Bus) key(scope, name string) string { return scopeKey(scope) + ":" + name }

// scopeKey is the Redis key part of a scope.
func scopeKey(scope string) string { return strconv.Itoa(len(scope)) + ":" + scope }

// args returns the common script arguments followed by more.
func (b *Bus) args(more ...any) []any {
	return append(append(make([]any, 0, len(b.conf)+len(more)), b.conf...), more...)
}

func (s scoped) Signal(ctx context.Context, name string, data eventcoord.Data) (eventcoord.Receipt, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Receipt{}, err
	}
	if data == nil {
		return eventcoord.Receipt{}, eventcoord.ErrDataRequired
	}
	body, err := encodeBody(s.scope, name, time.Now(), data)
	if err != nil {
		return eventcoord.Receipt{}, err
	}
	b := s.b
	if !b.begin() {
		return eventcoord.Receipt{}, eventcoord.ErrClosed
	}
	defer b.calls.Done()
	rctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	k := b.key(s.scope, name)
	res, err := signalScript.Run(rctx, b.rdb, []string{b.prefix + ":w:" + k}, b.args(scopeKey(s.scope), k, body)...).Int64Slice()
	if err != nil {
		return eventcoord.Receipt{}, b.unavailable(ctx, "signal", err)
	}
	b.signals.Add(1)
	return eventcoord.Receipt{Seq: uint64(res[0]), Woken: int(res[1]), Retained: res[2] == 1}, nil
}

// begin counts a call that uses Redis, unless the bus is closed: Close
// waits for the calls it counted before it closes the connections, so a
// call never fails for the bus closing under it.
func (b *Bus) begin() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.calls.Add(1)
	return true
}

// unavailable wraps a Redis failure, unless it was the caller's ctx
// ending.
func (b *Bus) unavailable(ctx context.Context, op string, err error) error {
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		<-ctx.Done() // the call's deadline was ctx's, whose timer is about to fire
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("%w: redis %s: %w", eventcoord.ErrUnavailable, op, err)
}
