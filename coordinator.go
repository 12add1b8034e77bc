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
	DefaultShards    = 64
	DefaultRetention = 5 * time.Minute
	// DefaultMaxRetained bounds the retained events of all scopes together.
	DefaultMaxRetained = 10_000
	// DefaultMaxRetainedPerScope bounds one scope's retained events: by
	// default a scope may fill the overall bound, and the scope holding
	// the most pays when it is reached, so scopes stay apart all the same.
	DefaultMaxRetainedPerScope = DefaultMaxRetained
	// DefaultMaxRetainedBytes bounds the size (the length of the JSON
	// encoding) of the retained events of all scopes together.
	DefaultMaxRetainedBytes int64 = 64 << 20
	// DefaultMaxRetainedBytesPerScope bounds one scope's retained bytes.
	DefaultMaxRetainedBytesPerScope = DefaultMaxRetainedBytes
	maxShards                       = 1 << 16
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

	shards []shard
	mask   uint64
	seed   maphash.Seed
	ttl    time.Duration
	epoch  time.Time // when retained events expire is kept as the time since epoch
	_      [64]byte  // every call reads the fields above; keep Signal's writes below off their cache line

	seq       atomic.Uint64 // last Seq handed out
	ret       retention     // retained events by scope, for the bounds
	closeOnce sync.Once
}

// key names an event: the same name in two scopes is two keys, and no name
// can forge another scope because the scope is a separate field.
type key struct{ scope, name string }

// shard holds the state of the names that hash to it.
type shard struct {
	c   *Coordinator          // read-only
	hot atomic.Pointer[batch] // the pending batch Registers join without mu (hot.go), or nil; written under mu
	_   [48]byte              // keeps the lock's writes off the line every Register reads

	mu     sync.Mutex
	names  map[key]*batch // pending (waiters, not fired) or retained (fired, no holder); guarded by mu
	fresh  map[key]*batch // pending batches of Fresh waits (fresh.go), nil until needed; guarded by mu
	timer  *time.Timer    // expires the oldest retained event; guarded by mu
	armed  bool           // timer is pending; guarded by mu
	closed bool           // guarded by mu

	waiters  int                   // blocked waiters, but for hot's; guarded by mu
	hint     int32                 // waiters of the last batch a Register joined, when it fired; guarded by mu
	retained int                   // retained events; guarded by mu
	def      scopeList             // the default scope's retained events, oldest first; guarded by mu
	scopes   map[string]*scopeList // other scopes' retained events, nil until needed; guarded by mu
	count    counters              // guarded by mu

	_ [64]byte // keeps neighbouring shards' locks off one cache line
}

type counters struct {
	signals, delivered, woken, expired, replaced, evicted, cleared uint64
	evictedBy                                                      [numEvictReasons]uint64 // evicted, by reason
}

// evict counts an eviction for reason. Call it with sh.mu held.
func (sh *shard) evict(reason int) {
	sh.count.evicted++
	sh.count.evictedBy[reason]++
}

// batch is one event in the making, shared by every waiter it goes to.
// Its life has four states, all changed under its shard's mu:
//
//   - pending: not fired, in the shard's names map under its key (fresh if
//     its waiters are Fresh ones: in the fresh map), gathering the waiters
//     registered for the key's next signal; holders counts them, any-of
//     members (the members list) included. It leaves the map when it fires or loses
//     its last holder.
//   - fired (held): Signal, Close or a give-back set ev (or closed) and
//     fired, took it out of the map and then closed ready (or sent its
//     token); holders counts the waiters that have not cancelled, and the
//     last to cancel without returning the event gives it back (giveBack).
//   - retained: fired with no holder, in the names map and its scope's
//     retention list (retention.go) with expires and size set; ready is
//     closedChan. A waiter that takes it makes it fired and held again.
//   - recycled: zeroed in the batches pool once nothing refers to it any
//     more (recycle, discard).
//
// close(ready) publishes ev, closed and fired: they are written before it
// and only read after it, without the lock, by Waiter.Wait. A batch of one
// plain Wait is fired by a token sent on ready instead (token), which that
// Wait receives, so that ready goes back to the pool with the batch.
// Registers read state, chunk and key without the lock while the batch is
// its shard's hot one (hot.go). Every other field is guarded by the
// shard's mu.
type batch struct {
	// Read by Registers without the shard's lock while b is hot (hot.go).
	state atomic.Uint64               // holders in the low 32 bits (pending: blocked waiters; fired: waiters that have not cancelled), sealed, and the Waiters taken from chunk.ws
	chunk atomic.Pointer[waiterChunk] // the Waiters for Register after own, set once, or nil
	key   key                         // set by newBatch; a batch that was hot is never recycled

	ready   chan struct{} // closed once fired
	sh      *shard
	ev      Event
	closed  bool // Close woke the batch: its waiters return ErrClosed
	fired   bool // guarded by the shard's mu, like everything below
	usedOwn bool // own is taken, or an any-of wait or a twin may refer to b once fired: it is never recycled
	home    bool // the home batch of an any-of wait (anyof.go), never in a map
	token   bool // fired by a send on ready, which is buffered, instead of a close (see signal)

	members    *member       // pending: the list of any-of members among the holders (anyof.go)
	prev, next *batch        // retained: links of its scope's retention list (scopeList); held: next is its twin (mixed.go)
	expires    time.Duration // when a retained event expires, as the time since the Coordinator's epoch
	size       int64         // length of ev.Data's JSON encoding once measured, else -1
	own        Waiter        // the first Waiter Register hands out for this batch
}

// waiterChunk holds the Waiters a batch hands out after its own, apart
// from the batch, so that the common single waiter's batch stays in its
// 192-byte size class.
type waiterChunk struct {
	ws   []Waiter // set once, before the chunk is published; taken in order by take
	slab []Waiter // more unused Waiters once ws is used up, allocated in chunks; guarded by the shard's mu
}

// maxSlab bounds a chunk of Waiters (16 bytes each): a Waiter kept after
// its batch is gone keeps its whole chunk alive, so at most 64 KiB, and
// never more than the Waiters the name's previous round had.
const maxSlab = 4096

// newWaiter returns an unused Waiter for b: the one inside b, then those
// of its chunk, sized by the shard's last fan-out (hint) up to maxSlab and
// shared with joinHot, then Waiters from chunks that double with the
// number of holders. So the common single waiter costs no allocation, and
// a name whose rounds gather about as many waiters as the last one costs
// one chunk a round, however many there are.
// Call it with the shard's mu held.
func (b *batch) newWaiter() *Waiter {
	if !b.usedOwn {
		b.usedOwn = true
		return &b.own
	}
	if b.chunk.Load() == nil {
		b.newChunk()
	}
	if w := b.take(0); w != nil {
		return w
	}
	ch := b.chunk.Load()
	if len(ch.slab) == 0 {
		ch.slab = make([]Waiter, min(max(int(b.holders()), 1), maxSlab))
	}
	w := &ch.slab[0]
	ch.slab = ch.slab[1:]
	return w
}

// newChunk gives b its chunk of Waiters, for the waiters of the last
// fan-out but the one own serves. Call it with the shard's mu held.
func (b *batch) newChunk() {
	b.chunk.Store(&waiterChunk{ws: make([]Waiter, min(max(int(b.sh.hint)-1, 1), maxSlab))})
}

// batches recycles the batches that served one Wait and no Register, so
// that a name's wait-signal cycle does not allocate a batch each time.
var batches = sync.Pool{New: func() any { return new(batch) }}

// newBatch returns a batch for k with channel ready, from the pool if it
// may go back there: not for a Register, whose Waiters may outlive it (an
// empty pool's Get is slower than new). A nil ready gives it a channel of
// its own: the one a pooled batch kept, if any; buffered, so that signal
// may fire it with a token.
func newBatch(sh *shard, k key, ready chan struct{}, register bool) *batch {
	var b *batch
	if register {
		b = new(batch)
	} else {
		b = batches.Get().(*batch)
	}
	if ready == nil {
		ready = b.ready
		if ready == nil {
			ready = make(chan struct{}, 1)
		}
	}
	b.ready, b.sh, b.key, b.size = ready, sh, k, -1
	return b
}

// recycle puts b back for reuse if the Wait that just returned its event
// was its only holder: b is out of the shard's map and retention list once
// fired and taken, and Waiters from Register, which may outlive their Wait,
// never held it, nor did an any-of wait, and it has no twin (usedOwn), so
// nothing else refers to it. Fields written under the
// shard's lock before the event was handed over are safe to read here:
// with no Waiter from Register, no one can change them after the batch
// fired. Whoever fired b must not touch it after unlocking. A batch fired
// by a token keeps its channel: the Wait received the token, so it is
// empty and open.
func (b *batch) recycle() {
	if b.usedOwn || b.holders() != 1 || b.closed {
		return
	}
	var ready chan struct{}
	if b.token {
		ready = b.ready
	}
	*b = batch{ready: ready}
	batches.Put(b)
}

// discard recycles b, a retained event that leaves unclaimed (replaced,
// expired or evicted), unless a Waiter from Register held it: any other
// retained batch was born retained in Signal and never taken, so nothing
// but the shard's maps and lists, which the caller has removed it from,
// refers to it. Call it with the shard's mu held.
func (b *batch) discard() {
	if b.usedOwn {
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
// DefaultShards shards and keeps unclaimed events for DefaultRetention
// each, up to DefaultMaxRetained events and DefaultMaxRetainedBytes bytes
// (and as many per scope: DefaultMaxRetainedPerScope and
// DefaultMaxRetainedBytesPerScope).
func New(opts ...Option) *Coordinator {
	cfg := config{
		shards: DefaultShards, ttl: DefaultRetention,
		maxRetained: DefaultMaxRetained, maxRetainedPerScope: DefaultMaxRetainedPerScope,
		maxRetainedBytes: DefaultMaxRetainedBytes, maxRetainedBytesPerScope: DefaultMaxRetainedBytesPerScope,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	n := 1
	for n < cfg.shards {
		n <<= 1
	}
	c := &Coordinator{
		shards: make([]shard, n),
		mask:   uint64(n - 1),
		seed:   maphash.MakeSeed(),
		ttl:    cfg.ttl,
		epoch:  time.Now(),
	}
	c.ret.init(int64(cfg.maxRetained), cfg.maxRetainedBytes, int64(cfg.maxRetainedPerScope), cfg.maxRetainedBytesPerScope)
	for i := range c.shards {
		c.shards[i].c = c
		c.shards[i].names = make(map[key]*batch)
		c.shards[i].def.stat = &c.ret.def
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
// With [Or] it waits for the first event of any of several names and
// consumes only that one; with [Fresh] it leaves retained events alone.
//
// Wait returns ctx.Err() when ctx ends first, leaving no trace in the
// Coordinator; if ctx is already done it returns at once without consuming
// anything. An event that arrives as ctx ends is still returned. Wait
// returns ErrInvalidName for a bad name, ErrTooManyNames for more than
// MaxWaitNames, and ErrClosed once Close is called.
func (c *Coordinator) Wait(ctx context.Context, name string, opts ...WaitOption) (Event, error) {
	return c.wait(ctx, "", name, opts)
}

// Register registers a waiter on name now, so that a signal sent any time
// after Register returns reaches it, and returns the [Waiter] to wait on.
// Use it to register interest before the action that causes the signal.
// The caller must call Wait or Cancel on the Waiter; a registered waiter
// counts as waiting until it does. The options are Wait's.
func (c *Coordinator) Register(name string, opts ...WaitOption) (*Waiter, error) {
	return c.register("", name, opts)
}

// Clear removes the event retained for name, if any, and reports whether
// there was one; it is counted in Stats.Cleared. Waiters are not affected.
// It returns ErrInvalidName for a bad name and ErrClosed once Close is
// called.
func (c *Coordinator) Clear(name string) (bool, error) { return c.clear(key{name: name}) }

// List returns a page of the default scope's names that hold state
// (waiters or a retained event), in bytewise order of name, with the
// scope's totals. Pages are consistent per name, not as a whole: a name
// that gains or loses state while pages are read may be on a page or not.
// A page costs a look at every name of the Coordinator. List returns
// ErrBadListLimit for a negative limit and ErrClosed once Close is called.
func (c *Coordinator) List(opts ListOptions) (Listing, error) { return c.list("", opts) }

// Close wakes every blocked waiter with ErrClosed and discards retained
// events (counted as evicted). Afterwards Signal, Wait and Register return
// ErrClosed. Close is idempotent and safe to call concurrently with
// everything else; it always returns nil.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		for i := range c.shards {
			c.shards[i].close()
		}
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
	sh := c.shardFor(k)
	if hot := sh.hot.Load(); hot == nil || hot.key != k { // else k is a batch's key, so valid
		if err := ValidateName(k.name); err != nil {
			return Receipt{}, err
		}
	}
	if data == nil {
		return Receipt{}, ErrDataRequired
	}
	now := time.Now()
	size := int64(-1) // measured only if the event is to be retained
	sh.mu.Lock()
	for {
		if sh.closed {
			sh.mu.Unlock()
			return Receipt{}, ErrClosed
		}
		cur := sh.hot.Load() // under the lock, hot is pending and in names, with no any-of member
		if cur == nil || cur.key != k {
			cur = sh.names[k]
		}
		if len(sh.fresh) != 0 || cur != nil && cur.members != nil {
			return c.signalMixed(sh, k, data, now) // Fresh or any-of waiters (mixed.go)
		}
		if cur != nil && !cur.fired {
			seq := c.seq.Add(1)
			sh.count.signals++
			n := sh.fire(cur, Event{Name: k.name, Data: data, Seq: seq, SignaledAt: now})
			ready := cur.ready // cur may be recycled once unlocked
			// One plain Wait (no Waiter handed out, no any-of member)
			// takes a token, and its channel can be used again: a
			// wait-signal cycle allocates nothing. Others share a close.
			cur.token = n == 1 && !cur.usedOwn && cur.members == nil && cap(ready) == 1
			token := cur.token
			sh.mu.Unlock()
			// Outside the lock: waking is the costly part.
			if token {
				ready <- struct{}{} // never blocks: nothing else sends on it
			} else {
				close(ready)
			}
			return Receipt{Seq: seq, Woken: n}, nil
		}
		if size < 0 && c.ttl > 0 {
			var small bool
			if size, small = smallDataSize(data); !small {
				// Measure a large event outside the lock, then look
				// again: a waiter may have come meanwhile.
				sh.mu.Unlock()
				size = dataSize(data, c.ret.sizeLimit())
				sh.mu.Lock()
				continue
			}
		}
		return sh.retainSignal(k, cur, data, size, now), nil
	}
}

// retainSignal accepts data as k's event for nobody waiting: retained,
// replacing cur (k's retained event, if any), unless retention is off or a
// bound evicts it. size is the data's, measured if retention is on. Call it
// with sh.mu held and no pending batch for k; it unlocks sh.mu.
func (sh *shard) retainSignal(k key, cur *batch, data Data, size int64, now time.Time) Receipt {
	c := sh.c
	seq := c.seq.Add(1)
	sh.count.signals++
	b := newBatch(sh, k, closedChan, false)
	b.ev, b.fired, b.size = Event{Name: k.name, Data: data, Seq: seq, SignaledAt: now}, true, size
	retained, over := sh.retain(b, cur, now)
	sh.mu.Unlock()
	if over && c.enforce(k.scope, k, seq) {
		retained = false
	}
	return Receipt{Seq: seq, Retained: retained}
}

func (c *Coordinator) wait(ctx context.Context, scope, name string, opts []WaitOption) (Event, error) {
	if len(opts) > 0 {
		return c.waitWith(ctx, scope, name, opts) // wait.go
	}
	k := key{scope: scope, name: name}
	if err := ValidateName(k.name); err != nil {
		return Event{}, err
	}
	if err := ctx.Err(); err != nil {
		return Event{}, err
	}
	var w Waiter // stays on the stack: nothing but this call refers to it
	if _, err := c.join(c.shardFor(k), &w, k); err != nil {
		return Event{}, err
	}
	ev, err := w.Wait(ctx)
	if err == nil {
		w.b.recycle()
	}
	return ev, err
}

func (c *Coordinator) register(scope, name string, opts []WaitOption) (*Waiter, error) {
	if len(opts) > 0 {
		return c.registerWith(scope, name, opts) // wait.go
	}
	k := key{scope: scope, name: name}
	sh := c.shardFor(k)
	if w := sh.joinHot(k); w != nil { // k is the key of a batch, so valid
		return w, nil
	}
	if err := ValidateName(k.name); err != nil {
		return nil, err
	}
	return c.join(sh, nil, k)
}

// join makes w a waiter on k: the holder of k's retained event if there is
// one, else a member of k's pending batch. For a nil w it hands out one of
// the batch's Waiters (newWaiter), and makes the batch the shard's hot one
// if there is none. k is in shard sh. It returns w.
func (c *Coordinator) join(sh *shard, w *Waiter, k key) (*Waiter, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return nil, ErrClosed
	}
	b := sh.names[k]
	if b != nil && b.fired { // retained: w takes it unless it expired
		sh.unindex(b)
		if !b.expired(c.since(time.Now())) {
			delete(sh.names, k)
			sh.count.delivered++
			sh.count.woken++
			b.setHolders(1)
			if w == nil {
				w = b.newWaiter()
			}
			w.b = b
			return w, nil
		}
		sh.count.expired++
		b.discard()
		b = nil
	}
	if b == nil {
		b = newBatch(sh, k, nil, w == nil)
		sh.names[k] = b
	}
	hot := sh.hot.Load()
	if w == nil {
		w = b.newWaiter()
		if hot == nil && b.members == nil && b.state.Load()&sealed == 0 { // b goes hot: its holders leave sh.waiters, see Stats
			if b.chunk.Load() == nil && sh.hint > 1 {
				b.newChunk() // now, or the next Registers take the lock to make it
			}
			sh.waiters -= int(b.holders())
			sh.hot.Store(b)
			hot = b
		}
	}
	b.state.Add(1)
	if hot != b {
		sh.waiters++
	}
	w.b = b
	return w, nil
}

// fire hands ev to the pending batch b and returns how many waiters it
// reached. The caller closes b.ready after releasing sh.mu.
func (sh *shard) fire(b *batch, ev Event) int {
	delete(sh.names, b.key)
	b.ev, b.fired = ev, true
	n := b.seal()
	sh.leftHot(b, n)
	if b.usedOwn {
		sh.hint = int32(n)
	}
	sh.count.delivered++
	sh.count.woken += uint64(n)
	return n
}

// giveBack re-offers the event of batch b, which every holder cancelled
// without returning it: to the waiters now pending on its key if there are
// any (never to Fresh ones: the event is older than they are), else as the
// retained event, which needs b.size measured. Call it with sh.mu held; it
// adds what to wake after unlocking to wk and reports whether a bound is
// exceeded (see retain).
func (sh *shard) giveBack(b *batch, wk *wakeups) (over bool) {
	sh.count.delivered--
	if t := b.next; t != nil { // its twin is abandoned as well
		t.next, b.next = nil, nil
	}
	if sh.closed {
		sh.evict(evictClosed)
		return false
	}
	cur := sh.names[b.key]
	if cur != nil && !cur.fired {
		if sh.settle(cur, wk) > 0 {
			sh.fire(cur, b.ev)
			wk.ready[0] = cur.ready
			return false
		}
		cur = nil // only any-of waits served elsewhere were pending: settle removed it
	}
	_, over = sh.retain(b, cur, time.Now())
	return over
}

func (sh *shard) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true
	for _, b := range sh.names {
		if b.fired {
			sh.unindex(b)
			sh.evict(evictClosed)
			continue
		}
		b.closed, b.fired = true, true
		sh.closeMembers(b)
		sh.leftHot(b, b.seal())
		close(b.ready)
	}
	clear(sh.names)
	sh.closeFresh()
	if sh.timer != nil {
		sh.timer.Stop()
	}
}

// noCopy lets go vet report copies of a Coordinator.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
