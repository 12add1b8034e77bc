package eventcoord

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Default values of a Coordinator made by New without options.
const (
	DefaultShards      = 64
	DefaultRetention   = 5 * time.Minute
	DefaultMaxRetained = 10_000
	maxShards          = 1 << 16
)

// Coordinator hands events from Signal to the goroutines blocked in Wait.
//
// A Coordinator is safe for concurrent use by multiple goroutines and must
// not be copied after first use. Its zero value is not usable: call [New].
// A call to Signal synchronizes before the return of every Wait that
// receives its event, so a waiter sees everything the signaler wrote before
// calling Signal.
type Coordinator struct {
	_ noCopy

	shards      []shard
	mask        uint64
	seed        maphash.Seed
	ttl         time.Duration
	maxRetained int64
	_           [64]byte // every call reads the fields above; keep Signal's writes below off their cache line

	seq           atomic.Uint64 // last Seq handed out
	retainedTotal atomic.Int64  // retained events over all shards, for the bound
	closeOnce     sync.Once
}

// key names an event: the same name in two scopes is two keys, and no name
// can forge another scope because the scope is a separate field.
type key struct{ scope, name string }

// shard holds the state of the names that hash to it.
type shard struct {
	c      *Coordinator // read-only
	mu     sync.Mutex
	names  map[key]*batch // pending (waiters, not fired) or retained (fired, no holder); guarded by mu
	oldest *batch         // retained events, oldest first; guarded by mu
	newest *batch         // guarded by mu
	timer  *time.Timer    // expires the oldest retained event; guarded by mu
	armed  bool           // timer is pending; guarded by mu
	closed bool           // guarded by mu

	waiters  int      // blocked waiters; guarded by mu
	retained int      // retained events; guarded by mu
	count    counters // guarded by mu

	_ [64]byte // keeps neighbouring shards' locks off one cache line
}

type counters struct {
	signals, delivered, woken, expired, replaced, evicted uint64
}

// batch is one event in the making, shared by every waiter it goes to.
// While pending it gathers the waiters registered for the next signal of
// its key; fired, it carries the event (or ErrClosed) they all return.
type batch struct {
	ready   chan struct{} // closed once fired
	sh      *shard
	key     key
	ev      Event
	closed  bool  // Close woke the batch: its waiters return ErrClosed
	fired   bool  // guarded by the shard's mu, like everything below
	usedOwn bool  // own is taken
	holders int32 // pending: blocked waiters; fired: waiters that have not cancelled

	prev, next *batch    // retention list links
	expires    time.Time // when a retained event expires
	own        Waiter    // the first Waiter Register hands out for this batch
	slab       []Waiter  // more unused Waiters for Register, allocated in chunks
}

// maxSlab bounds a chunk of Waiters: a Waiter kept after its batch is gone
// keeps its chunk alive, at most 512 bytes. Larger objects with pointers
// carry an 8-byte header, which would put 1 KiB into a 1,152-byte class.
const maxSlab = 32

// newWaiter returns an unused Waiter for b: the one inside b, then Waiters
// from chunks that double with the number of holders up to maxSlab, so
// that the common single waiter costs no allocation and n waiters on one
// name about n/maxSlab.
// Call it with the shard's mu held.
func (b *batch) newWaiter() *Waiter {
	if !b.usedOwn {
		b.usedOwn = true
		return &b.own
	}
	if len(b.slab) == 0 {
		b.slab = make([]Waiter, min(max(b.holders, 1), maxSlab))
	}
	w := &b.slab[0]
	b.slab = b.slab[1:]
	return w
}

// batches recycles the batches that served one Wait and no Register, so
// that a name's wait-signal cycle does not allocate a batch each time.
var batches = sync.Pool{New: func() any { return new(batch) }}

func newBatch(sh *shard, k key, ready chan struct{}) *batch {
	b := batches.Get().(*batch)
	b.ready, b.sh, b.key = ready, sh, k
	return b
}

// recycle puts b back for reuse if the Wait that just returned its event
// was its only holder: b is out of the shard's map and retention list once
// fired and taken, and Waiters from Register, which may outlive their Wait,
// never held it, so nothing else refers to it. Fields written under the
// shard's lock before the event was handed over are safe to read here:
// with no Waiter from Register, no one can change them after the batch
// fired. Whoever fired b must not touch it after unlocking.
func (b *batch) recycle() {
	if b.usedOwn || b.holders != 1 || b.closed {
		return
	}
	*b = batch{}
	batches.Put(b)
}

// closedChan is the ready channel of batches that are born fired, so that
// retaining an event costs no channel.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// New returns a Coordinator configured by opts. Without options it has
// DefaultShards shards and keeps up to DefaultMaxRetained unclaimed events
// for DefaultRetention each.
func New(opts ...Option) *Coordinator {
	cfg := config{shards: DefaultShards, ttl: DefaultRetention, maxRetained: DefaultMaxRetained}
	for _, o := range opts {
		o.apply(&cfg)
	}
	n := 1
	for n < cfg.shards {
		n <<= 1
	}
	c := &Coordinator{
		shards:      make([]shard, n),
		mask:        uint64(n - 1),
		seed:        maphash.MakeSeed(),
		ttl:         cfg.ttl,
		maxRetained: int64(cfg.maxRetained),
	}
	for i := range c.shards {
		c.shards[i].c = c
		c.shards[i].names = make(map[key]*batch)
	}
	return c
}

// Signal hands data to every goroutine waiting on name, or, if none waits,
// retains it for the next waiter (replacing an event retained before).
// Signal takes ownership of data: do not modify it afterwards.
//
// It returns ErrInvalidName, ErrDataRequired or ErrClosed, and changes
// nothing, when it cannot accept the event. It never blocks on waiters.
func (c *Coordinator) Signal(name string, data Data) (Receipt, error) {
	return c.signal(key{name: name}, data)
}

// Wait blocks until an event named name is signaled or ctx ends, and
// returns the event. A retained event is returned at once and consumed.
//
// Wait returns ctx.Err() when ctx ends first, leaving no trace in the
// Coordinator; if ctx is already done it returns at once without consuming
// anything. An event that arrives as ctx ends is still returned. Wait
// returns ErrInvalidName for a bad name and ErrClosed once Close is called.
func (c *Coordinator) Wait(ctx context.Context, name string) (Event, error) {
	return c.wait(ctx, key{name: name})
}

// Register registers a waiter on name now, so that a signal sent any time
// after Register returns reaches it, and returns the [Waiter] to wait on.
// Use it to register interest before the action that causes the signal.
// The caller must call Wait or Cancel on the Waiter; a registered waiter
// counts as waiting until it does.
func (c *Coordinator) Register(name string) (*Waiter, error) {
	return c.register(key{name: name})
}

// Close wakes every blocked waiter with ErrClosed and discards retained
// events (counted as evicted). Afterwards Signal, Wait and Register return
// ErrClosed. Close is idempotent and safe to call concurrently with
// everything else; it always returns nil.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		for i := range c.shards {
			c.shards[i].close()
		}
		c.retainedTotal.Store(0)
	})
	return nil
}

func (c *Coordinator) shardFor(k key) *shard {
	h := maphash.String(c.seed, k.name)
	if k.scope != "" {
		h ^= maphash.String(c.seed, k.scope) * 0x9e3779b97f4a7c15
	}
	return &c.shards[h&c.mask]
}

func (c *Coordinator) signal(k key, data Data) (Receipt, error) {
	if err := ValidateName(k.name); err != nil {
		return Receipt{}, err
	}
	if data == nil {
		return Receipt{}, ErrDataRequired
	}
	now := time.Now()
	sh := c.shardFor(k)
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return Receipt{}, ErrClosed
	}
	seq := c.seq.Add(1)
	sh.count.signals++
	ev := Event{Name: k.name, Data: data, Seq: seq, SignaledAt: now}
	cur := sh.names[k]
	if cur != nil && !cur.fired {
		n := sh.fire(cur, ev)
		ready := cur.ready // cur may be recycled once unlocked
		sh.mu.Unlock()
		close(ready) // outside the lock: waking is the costly part
		return Receipt{Seq: seq, Woken: n}, nil
	}
	b := newBatch(sh, k, closedChan)
	b.ev, b.fired = ev, true
	retained := sh.retain(b, cur, now)
	sh.mu.Unlock()
	return Receipt{Seq: seq, Retained: retained}, nil
}

func (c *Coordinator) wait(ctx context.Context, k key) (Event, error) {
	if err := ValidateName(k.name); err != nil {
		return Event{}, err
	}
	if err := ctx.Err(); err != nil {
		return Event{}, err
	}
	var w Waiter // stays on the stack: nothing but this call refers to it
	if _, err := c.join(&w, k); err != nil {
		return Event{}, err
	}
	ev, err := w.Wait(ctx)
	if err == nil {
		w.b.recycle()
	}
	return ev, err
}

func (c *Coordinator) register(k key) (*Waiter, error) {
	if err := ValidateName(k.name); err != nil {
		return nil, err
	}
	return c.join(nil, k)
}

// join makes w a waiter on k: the holder of k's retained event if there is
// one, else a member of k's pending batch. For a nil w it hands out one of
// the batch's Waiters (newWaiter). It returns w.
func (c *Coordinator) join(w *Waiter, k key) (*Waiter, error) {
	sh := c.shardFor(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return nil, ErrClosed
	}
	b := sh.names[k]
	if b != nil && b.fired { // retained: w takes it unless it expired
		sh.unlink(b)
		if !b.expired(time.Now()) {
			delete(sh.names, k)
			sh.count.delivered++
			sh.count.woken++
			b.holders = 1
			if w == nil {
				w = b.newWaiter()
			}
			w.b = b
			return w, nil
		}
		sh.count.expired++
		b = nil
	}
	if b == nil {
		b = newBatch(sh, k, make(chan struct{}))
		sh.names[k] = b
	}
	if w == nil {
		w = b.newWaiter()
	}
	sh.waiters++
	b.holders++
	w.b = b
	return w, nil
}

// fire hands ev to the pending batch b and returns how many waiters it
// reached. The caller closes b.ready after releasing sh.mu.
func (sh *shard) fire(b *batch, ev Event) int {
	delete(sh.names, b.key)
	b.ev, b.fired = ev, true
	n := int(b.holders)
	sh.waiters -= n
	sh.count.delivered++
	sh.count.woken += uint64(n)
	return n
}

// retain keeps the fired batch b as its key's retained event, as Signal
// does for an event nobody waits for; cur is the key's retained event so
// far, if any. It reports whether b is retained; if not, b was counted as
// expired (retention off), replaced or evicted. Call it with sh.mu held and
// no pending batch for b's key.
func (sh *shard) retain(b, cur *batch, now time.Time) bool {
	c := sh.c
	if c.ttl <= 0 {
		sh.count.expired++
		return false
	}
	if cur != nil {
		switch {
		case cur.expired(now):
			sh.count.expired++
		case cur.ev.Seq > b.ev.Seq: // b is an older event given back: keep the newer
			sh.count.replaced++
			return false
		default:
			sh.count.replaced++
		}
		sh.unlink(cur)
	}
	b.expires = now.Add(c.ttl)
	b.holders = 0
	sh.link(b)
	sh.names[b.key] = b
	if c.retainedTotal.Load() > c.maxRetained {
		victim := sh.oldest // b at the latest
		sh.unlink(victim)
		delete(sh.names, victim.key)
		sh.count.evicted++
		return victim != b
	}
	return true
}

// link appends b to sh's retention list, arming the expiry timer when b is
// the only retained event. The caller puts b in sh.names.
func (sh *shard) link(b *batch) {
	b.prev, b.next = sh.newest, nil
	if sh.newest != nil {
		sh.newest.next = b
	} else {
		sh.oldest = b
		sh.armExpiry(b.expires)
	}
	sh.newest = b
	sh.retained++
	sh.c.retainedTotal.Add(1)
}

// unlink removes b from sh's retention list. The caller updates sh.names.
func (sh *shard) unlink(b *batch) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		sh.oldest = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		sh.newest = b.prev
	}
	b.prev, b.next = nil, nil
	sh.retained--
	sh.c.retainedTotal.Add(-1)
}

// armExpiry makes sh's timer sweep expired events at time at, unless it is
// pending already: it then fires no later than at, since every event gets
// the same TTL, and the sweep re-arms it. A timer, not a goroutine, so that
// an idle Coordinator runs nothing.
func (sh *shard) armExpiry(at time.Time) {
	if sh.armed {
		return
	}
	sh.armed = true
	d := time.Until(at)
	if sh.timer == nil {
		sh.timer = time.AfterFunc(d, sh.sweep)
		return
	}
	sh.timer.Reset(d)
}

// sweep expires sh's retained events whose time has come.
func (sh *shard) sweep() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.armed = false
	if sh.closed {
		return
	}
	now := time.Now()
	for b := sh.oldest; b != nil && b.expired(now); b = sh.oldest {
		sh.unlink(b)
		delete(sh.names, b.key)
		sh.count.expired++
	}
	if sh.oldest != nil {
		sh.armExpiry(sh.oldest.expires)
	}
}

// giveBack re-offers the event of batch b, which every holder cancelled
// without returning it: to the waiters now pending on its key if there are
// any, else as the retained event. Call it with sh.mu held; it returns the
// pending batch to close after unlocking, if it fired one.
func (sh *shard) giveBack(b *batch) *batch {
	sh.count.delivered--
	if sh.closed {
		sh.count.evicted++
		return nil
	}
	cur := sh.names[b.key]
	if cur != nil && !cur.fired {
		sh.fire(cur, b.ev)
		return cur
	}
	sh.retain(b, cur, time.Now())
	return nil
}

func (sh *shard) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true
	for _, b := range sh.names {
		if b.fired {
			sh.count.evicted++
			continue
		}
		b.closed, b.fired = true, true
		sh.waiters -= int(b.holders)
		close(b.ready)
	}
	clear(sh.names)
	sh.oldest, sh.newest, sh.retained = nil, nil, 0
	if sh.timer != nil {
		sh.timer.Stop()
	}
}

func (b *batch) expired(now time.Time) bool { return !now.Before(b.expires) }

// noCopy lets go vet report copies of a Coordinator.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
