package eventcoord

import (
	"sync"
	"sync/atomic"
	"time"
)

// The bounds on retained events (S10): how many there are and how many
// bytes they hold, per scope and overall. When a bound is exceeded, an
// event of the scope that should pay is evicted, its oldest:
//
//   - a scope over its own count or byte bound pays itself;
//   - over the overall count bound, the scope holding the most events pays;
//     over the overall byte bound, the scope holding the most bytes. On a
//     tie the scope whose event went over pays.
//
// So a scope's flood evicts its own events first, and another scope's only
// once that other scope holds more than the flooding one: a scope within
// its share is never evicted by another's flood. The evicted event may be
// the new one itself. An event larger than a byte bound on its own is
// evicted at once, without touching any other.
//
// Each shard lists its retained events per scope in the order they were
// retained, which is the order they expire in (scopeList), under the
// shard's lock. The counts and bytes of each scope are atomic counters that
// the shard updates under its lock; those of all scopes are the default
// scope's plus the other scopes' sum, so that retaining or taking an event
// of the default scope costs two atomic additions and no other lock, and
// one of another scope four. Finding what to evict is the slow path: the
// largest scope is found by reading every scope's counters (retention.mu
// guards the set of scopes), and its oldest event by looking at the head of
// its list in every shard, one shard lock at a time, so it costs more with
// more shards. The victim is then evicted by key and Seq under its shard's
// lock, if it is still retained (enforce).

// Reasons an event is evicted, indexes of counters.evictedBy.
const (
	evictScopeCount = iota // its scope over WithMaxRetainedPerScope
	evictScopeBytes        // its scope over WithMaxRetainedBytesPerScope
	evictCount             // all scopes over WithMaxRetained
	evictBytes             // all scopes over WithMaxRetainedBytes
	evictClosed            // discarded by Close
	numEvictReasons
)

// retention counts retained events for the bounds.
type retention struct {
	def    scopeStat // the default scope's, never dropped
	others struct {  // the sum of the other scopes'
		count, bytes atomic.Int64
	}

	maxCount, maxBytes           int64 // read-only after New
	maxScopeCount, maxScopeBytes int64 // read-only after New

	mu     sync.Mutex
	scopes map[string]*scopeStat // the other scopes holding retained events; guarded by mu
}

// scopeStat counts one scope's retained events over all shards. A scope
// other than the default has one while some shard lists its events.
type scopeStat struct {
	count, bytes atomic.Int64
	id           string // read-only
	lists        int    // shards listing events of the scope; guarded by retention.mu
}

func (r *retention) init(maxCount, maxBytes, maxScopeCount, maxScopeBytes int64) {
	r.maxCount, r.maxBytes = maxCount, maxBytes
	r.maxScopeCount, r.maxScopeBytes = maxScopeCount, maxScopeBytes
	r.scopes = make(map[string]*scopeStat)
}

// tooLarge returns the reason to evict at once an event of size bytes,
// which no byte bound would let stay, or -1 if it may be retained.
func (r *retention) tooLarge(size int64) int {
	switch {
	case size > r.maxScopeBytes:
		return evictScopeBytes
	case size > r.maxBytes:
		return evictBytes
	}
	return -1
}

// sizeLimit is the size past which an event is too large for any bound,
// so that measuring it can stop there (dataSize).
func (r *retention) sizeLimit() int64 { return max(r.maxBytes, r.maxScopeBytes) }

// over reports whether a scope holding n events of sb bytes, or all scopes
// holding total events of tb bytes, exceed a bound.
func (r *retention) over(n, sb, total, tb int64) bool {
	return n > r.maxScopeCount || sb > r.maxScopeBytes || total > r.maxCount || tb > r.maxBytes
}

// total adds an event count and size to the others' sum if st is not the
// default scope's counters, which the caller has just added them to, and
// returns the count and size of all scopes. It reads the counters the
// caller did not add to after those it added to, so that of two events
// retained at once in the default scope and another, at least one sees
// both (atomics are sequentially consistent): an exceeded bound is never
// missed by both.
func (r *retention) total(st *scopeStat, n, size int64) (count, bytes int64) {
	if st == &r.def {
		return r.def.count.Load() + r.others.count.Load(), r.def.bytes.Load() + r.others.bytes.Load()
	}
	if n != 0 {
		r.others.count.Add(n)
	}
	if size != 0 {
		r.others.bytes.Add(size)
	}
	return r.others.count.Load() + r.def.count.Load(), r.others.bytes.Load() + r.def.bytes.Load()
}

// totals returns the count and size of all scopes' retained events.
func (r *retention) totals() (count, bytes int64) {
	return r.def.count.Load() + r.others.count.Load(), r.def.bytes.Load() + r.others.bytes.Load()
}

// acquire returns the counters of scope, other than the default, for a
// shard that starts listing its events.
func (r *retention) acquire(scope string) *scopeStat {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.scopes[scope]
	if st == nil {
		st = &scopeStat{id: scope}
		r.scopes[scope] = st
	}
	st.lists++
	return st
}

// release gives back counters got from acquire, by a shard that lists no
// more events of their scope; a scope no shard lists leaves nothing behind.
func (r *retention) release(st *scopeStat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.lists--; st.lists == 0 {
		delete(r.scopes, st.id)
	}
}

// stat returns scope's counters, or nil if it holds no retained event.
func (r *retention) stat(scope string) *scopeStat {
	if scope == "" {
		return &r.def
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.scopes[scope]
}

// largest returns the scope holding the most retained events (bytes false)
// or bytes (bytes true), preferring scope on a tie.
func (r *retention) largest(scope string, bytes bool) string {
	value := func(st *scopeStat) int64 {
		if bytes {
			return st.bytes.Load()
		}
		return st.count.Load()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	best, most := "", value(&r.def)
	if st := r.scopes[scope]; st != nil && value(st) >= most {
		best, most = scope, value(st)
	}
	for id, st := range r.scopes {
		if v := value(st); v > most {
			best, most = id, v
		}
	}
	return best
}

// victim names a retained event to evict and why.
type victim struct {
	key    key
	seq    uint64
	reason int
}

// victim returns the retained event to evict next after an event of scope
// went over a bound. exceeded is false when every bound holds; ok is false
// when none is found, as when the scope that should pay holds nothing any
// more.
func (c *Coordinator) victim(scope string) (v victim, exceeded, ok bool) {
	r := &c.ret
	pay := scope
	st := r.stat(scope)
	count, bytes := r.totals()
	switch {
	case st != nil && st.count.Load() > r.maxScopeCount:
		v.reason = evictScopeCount
	case st != nil && st.bytes.Load() > r.maxScopeBytes:
		v.reason = evictScopeBytes
	case count > r.maxCount:
		v.reason, pay = evictCount, r.largest(scope, false)
	case bytes > r.maxBytes:
		v.reason, pay = evictBytes, r.largest(scope, true)
	default:
		return victim{}, false, false
	}
	// The oldest of pay's events is the oldest head of its shard lists.
	// Every event is retained for the same time, so the one retained
	// first expires first.
	var oldest time.Duration
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		if l := sh.list(pay); l != nil && l.oldest != nil {
			if b := l.oldest; !ok || b.expires < oldest || b.expires == oldest && b.ev.Seq < v.seq {
				v.key, v.seq, oldest, ok = b.key, b.ev.Seq, b.expires, true
			}
		}
		sh.mu.Unlock()
	}
	return v, true, ok
}

// enforce evicts retained events until every bound holds again, after a
// retained event of scope went over one. It reports whether the event k
// with Seq seq was among those evicted. Call it with no lock held.
func (c *Coordinator) enforce(scope string, k key, seq uint64) (self bool) {
	// A victim can be taken, expired or replaced between being chosen and
	// being evicted; the next round then looks again. Each such miss means
	// another goroutine removed retained events, so rounds without an
	// eviction are rare; the limit only keeps a bug from spinning forever.
	for misses := 0; misses < 1000; {
		v, exceeded, ok := c.victim(scope)
		if !exceeded {
			return self
		}
		if !ok {
			misses++
			continue
		}
		sh := c.shardFor(v.key)
		sh.mu.Lock()
		if b := sh.names[v.key]; b != nil && b.fired && b.ev.Seq == v.seq {
			sh.unindex(b)
			delete(sh.names, v.key)
			sh.evict(v.reason)
			b.discard()
			self = self || v.key == k && v.seq == seq
			misses = 0
		} else {
			misses++
		}
		sh.mu.Unlock()
	}
	return self
}
