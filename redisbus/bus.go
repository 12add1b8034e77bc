package redisbus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventcoord/eventcoord"
)

// Defaults of a Bus made without options.
const (
	DefaultPrefix = "eventcoord"
	aliveTTL      = 10 * time.Second
	heartbeat     = 2 * time.Second
	redisTimeout  = 5 * time.Second // for calls that must finish though their caller left
)

// Bus coordinates events across processes through one Redis. Each process
// keeps its waiters in memory and fans out locally; Redis carries signals,
// one message per process with waiters, and stores retained events.
//
// A Bus is safe for concurrent use. Close it to stop its goroutines and
// wake its waiters.
type Bus struct {
	rdb    *redis.Client
	prefix string
	id     string // this process's ID in Redis
	ttl    time.Duration
	log    *slog.Logger
	pubsub *redis.PubSub

	mu     sync.Mutex
	groups map[string]*group // pending local waiters by Redis key; guarded by mu
	closed bool              // guarded by mu

	signals atomic.Uint64 // accepted signals sent from this process
	woken   atomic.Uint64 // local waiters woken by messages

	stop context.CancelFunc
	done sync.WaitGroup
}

// group is the local waiters of one key, woken together by one message.
type group struct {
	ready chan struct{} // closed once ev or err is set
	ev    eventcoord.Event
	err   error
	n     int // waiters; guarded by Bus.mu until fired
}

// An Option configures a Bus made by [New].
type Option func(*Bus)

// WithPrefix sets the prefix of every Redis key and channel the bus uses
// (default DefaultPrefix), so that several deployments can share a Redis.
func WithPrefix(p string) Option { return func(b *Bus) { b.prefix = p } }

// WithRetention sets how long a signal nobody waits for is kept in Redis
// (default eventcoord.DefaultRetention); 0 keeps none.
func WithRetention(ttl time.Duration) Option { return func(b *Bus) { b.ttl = ttl } }

// WithLogger sets the logger for connection trouble (default: discard).
func WithLogger(l *slog.Logger) Option { return func(b *Bus) { b.log = l } }

// New connects a Bus to Redis through rdb. It fails if Redis cannot be
// reached within ctx, and returns once it is subscribed, so that every
// signal sent after New returns can reach its waiters.
func New(ctx context.Context, rdb *redis.Client, opts ...Option) (*Bus, error) {
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	b := &Bus{
		rdb: rdb, prefix: DefaultPrefix, id: hex.EncodeToString(id[:]),
		ttl: eventcoord.DefaultRetention, log: slog.New(slog.DiscardHandler),
		groups: map[string]*group{},
	}
	for _, o := range opts {
		o(b)
	}
	if err := b.markAlive(ctx); err != nil {
		return nil, fmt.Errorf("%w: redis: %w", eventcoord.ErrUnavailable, err)
	}
	b.pubsub = rdb.Subscribe(ctx, b.prefix+":proc:"+b.id)
	if _, err := b.pubsub.Receive(ctx); err != nil { // the subscription's confirmation
		b.pubsub.Close()
		return nil, fmt.Errorf("%w: redis subscribe: %w", eventcoord.ErrUnavailable, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.done.Go(func() { b.receive(runCtx) })
	b.done.Go(func() { b.beat(runCtx) })
	return b, nil
}

// Scope returns the events of scope id: the same name in two scopes is two
// unrelated events, in Redis as in memory.
func (b *Bus) Scope(id string) eventcoord.Events { return scoped{b, id} }

// Events returns the events of the default (empty) scope.
func (b *Bus) Events() eventcoord.Events { return b.Scope("") }

// Ping checks the connection to Redis, for health checks.
func (b *Bus) Ping(ctx context.Context) error { return b.rdb.Ping(ctx).Err() }

// Stats reports this process's side: blocked waiters, signals sent and
// waiters woken. Retention lives in Redis and is not counted here.
func (b *Bus) Stats() eventcoord.Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := eventcoord.Stats{Signals: b.signals.Load(), Woken: b.woken.Load(), Names: len(b.groups)}
	for _, g := range b.groups {
		s.Waiters += g.n
	}
	return s
}

// Close wakes this process's waiters with eventcoord.ErrClosed, takes the
// process out of Redis and stops the bus's goroutines. It does not close
// rdb. Close is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for k, g := range b.groups {
		delete(b.groups, k)
		g.err = eventcoord.ErrClosed
		close(g.ready)
	}
	b.mu.Unlock()
	b.stop()
	err := b.pubsub.Close()
	b.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b.rdb.Del(ctx, b.prefix+":alive:"+b.id) // best effort: it expires anyway
	return err
}

type scoped struct {
	b     *Bus
	scope string
}

// key is the Redis key of scope and name. The scope's length comes first,
// so no scope and name can spell another scope's key.
func (b *Bus) key(scope, name string) string {
	return strconv.Itoa(len(scope)) + ":" + scope + ":" + name
}

func (s scoped) Signal(ctx context.Context, name string, data eventcoord.Data) (eventcoord.Receipt, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Receipt{}, err
	}
	if data == nil {
		return eventcoord.Receipt{}, eventcoord.ErrDataRequired
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return eventcoord.Receipt{}, fmt.Errorf("redisbus: encoding data: %w", err)
	}
	b := s.b
	if b.isClosed() {
		return eventcoord.Receipt{}, eventcoord.ErrClosed
	}
	tail, _ := json.Marshal(struct {
		S string `json:"s"`
		N string `json:"n"`
		T int64  `json:"t"`
	}{s.scope, name, time.Now().UnixNano()})
	tail = append(append(tail[1:len(tail)-1], `,"d":`...), raw...) // "s":..,"n":..,"t":..,"d":{...}
	tail = append(tail, '}')
	k := b.key(s.scope, name)
	res, err := signalScript.Run(ctx, b.rdb, []string{b.prefix + ":w:" + k, b.prefix + ":r:" + k, b.prefix + ":seq"},
		b.prefix, tail, b.ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return eventcoord.Receipt{}, b.unavailable(ctx, "signal", err)
	}
	b.signals.Add(1)
	// Woken counts processes reached here: their waiters are counted where they wake.
	return eventcoord.Receipt{Seq: uint64(res[0]), Woken: int(res[1]), Retained: res[2] == 1}, nil
}

func (s scoped) Wait(ctx context.Context, name string) (eventcoord.Event, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Event{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventcoord.Event{}, err
	}
	b := s.b
	k := b.key(s.scope, name)

	// Join the local group first: once Redis counts this waiter, a signal's
	// message may arrive at any moment and must find it.
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return eventcoord.Event{}, eventcoord.ErrClosed
	}
	g := b.groups[k]
	if g == nil {
		g = &group{ready: make(chan struct{})}
		b.groups[k] = g
	}
	g.n++
	b.mu.Unlock()

	// Not cut short by ctx: a retained event the script took must be
	// returned, and a count it made must be undone.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	msg, err := registerScript.Run(rctx, b.rdb, []string{b.prefix + ":w:" + k, b.prefix + ":r:" + k}, b.id).Text()
	switch {
	case err == nil: // took the retained event
		b.leaveGroup(k, g)
		_, ev, err := decode(msg)
		return ev, err
	case !errors.Is(err, redis.Nil):
		if b.leaveGroup(k, g) {
			b.unregister(rctx, k)
		}
		return eventcoord.Event{}, b.unavailable(ctx, "wait", err)
	}

	select {
	case <-g.ready:
		return g.ev, g.err
	case <-ctx.Done():
	}
	if !b.leaveGroup(k, g) { // fired as ctx ended: delivery wins
		return g.ev, g.err
	}
	// Not counted any more in Redis: a signal in flight to this process
	// finds no waiter and, if nobody else took it, is offered again.
	uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer ucancel()
	b.unregister(uctx, k)
	return eventcoord.Event{}, ctx.Err()
}

// unregister counts one waiter of k fewer in Redis.
func (b *Bus) unregister(ctx context.Context, k string) {
	if err := unregisterScript.Run(ctx, b.rdb, []string{b.prefix + ":w:" + k}, b.id, 1).Err(); err != nil {
		b.log.Warn("redisbus: unregistering a waiter failed; the next reconnect corrects the count", "err", err)
	}
}

// leaveGroup takes one waiter out of g unless g has fired, and reports
// whether it did.
func (b *Bus) leaveGroup(k string, g *group) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.groups[k] != g {
		return false // fired (or closed)
	}
	if g.n--; g.n == 0 {
		delete(b.groups, k)
	}
	return true
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// unavailable wraps a Redis failure, unless it was ctx ending.
func (b *Bus) unavailable(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("%w: redis %s: %w", eventcoord.ErrUnavailable, op, err)
}

type message struct {
	Q uint64          `json:"q"`
	S string          `json:"s"`
	N string          `json:"n"`
	T int64           `json:"t"`
	D json.RawMessage `json:"d"`
}

// decode returns the scope of a message and the Event it carries. Numbers
// in the data arrive as json.Number, so they keep every digit.
func decode(msg string) (scope string, ev eventcoord.Event, err error) {
	var m message
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		return "", ev, fmt.Errorf("redisbus: bad message: %w", err)
	}
	ev = eventcoord.Event{Name: m.N, Seq: m.Q, SignaledAt: time.Unix(0, m.T)}
	dec := json.NewDecoder(bytes.NewReader(m.D))
	dec.UseNumber()
	if err := dec.Decode(&ev.Data); err != nil {
		return "", ev, fmt.Errorf("redisbus: bad message data: %w", err)
	}
	return m.S, ev, nil
}
