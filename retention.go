package eventcoord

import (
	"math"
	"time"
)

// A retained event is a fired batch with no holder, in its shard's names
// map under its key (S2). Each shard also lists its retained events per
// scope, oldest first (scopeList), which is the order they expire in since
// every event gets the same TTL: the shard's timer sweeps the expired ones
// from the heads of its lists (sweep), and the bounds (bounds.go) evict
// from them. Everything here is guarded by the shard's mu.

// retain keeps the fired batch b, whose size is measured, as its key's
// retained event, as Signal does for an event nobody waits for; cur is the
// key's retained event so far, if any. It reports whether b is retained;
// if not, b was counted as expired (retention off), replaced or evicted.
// It also reports whether a bound on retained events is now exceeded: the
// caller then calls enforce once it holds no lock. Call it with sh.mu held
// and no pending batch for b's key.
func (sh *shard) retain(b, cur *batch, now time.Time) (retained, over bool) {
	c := sh.c
	if c.ttl <= 0 {
		sh.count.expired++
		b.discard()
		return false, false
	}
	t := c.since(now)
	if cur != nil {
		switch {
		case cur.expired(t):
			sh.count.expired++
		case cur.ev.Seq > b.ev.Seq: // b is an older event given back: keep the newer
			sh.count.replaced++
			return false, false
		default:
			sh.count.replaced++
		}
	}
	if reason := c.ret.tooLarge(b.size); reason >= 0 { // evicting others would not make room
		if cur != nil {
			sh.unindex(cur)
			delete(sh.names, b.key)
			cur.discard()
		}
		sh.evict(reason)
		b.discard()
		return false, false
	}
	b.expires = t + min(c.ttl, math.MaxInt64-t) // t ≥ 0: no overflow
	b.setHolders(0)
	if cur != nil {
		over = sh.reindex(cur, b)
		cur.discard()
	} else {
		over = sh.index(b)
	}
	sh.names[b.key] = b
	return true, over
}

// scopeList is one scope's retained events in one shard, oldest first,
// linked through batch.prev and batch.next; guarded by the shard's mu.
type scopeList struct {
	oldest, newest *batch
	stat           *scopeStat // read-only
}

// list returns the list of scope's retained events in sh, or nil if sh
// holds none of them. Call it with sh.mu held.
func (sh *shard) list(scope string) *scopeList {
	if scope == "" {
		return &sh.def
	}
	return sh.scopes[scope]
}

// index lists and counts the retained batch b, whose size and expiry are
// set, arming the shard's expiry timer, and reports whether a bound is now
// exceeded: the caller then calls enforce once it holds no lock. The
// caller puts b in sh.names. Call it with sh.mu held.
func (sh *shard) index(b *batch) (over bool) {
	r := &sh.c.ret
	l := sh.list(b.key.scope)
	if l == nil {
		l = &scopeList{stat: r.acquire(b.key.scope)}
		if sh.scopes == nil {
			sh.scopes = make(map[string]*scopeList)
		}
		sh.scopes[b.key.scope] = l
	}
	l.append(b)
	sh.retained++
	sh.armExpiry(b.expires)
	n, nb := l.stat.count.Add(1), l.stat.bytes.Add(b.size)
	tn, tb := r.total(l.stat, 1, b.size)
	return r.over(n, nb, tn, tb)
}

// reindex puts b, a new retained event of the key of the retained batch
// old, in old's place in the counts, as the scope's newest, and reports
// whether a bound is now exceeded. Call it with sh.mu held.
func (sh *shard) reindex(old, b *batch) (over bool) {
	r := &sh.c.ret
	l := sh.list(b.key.scope)
	l.unlink(old)
	l.append(b)
	sh.armExpiry(b.expires)
	d := b.size - old.size
	n, nb := l.stat.count.Load(), l.stat.bytes.Add(d)
	tn, tb := r.total(l.stat, 0, d)
	return r.over(n, nb, tn, tb)
}

// unindex takes the retained batch b out of its scope's list and counts.
// The caller updates sh.names. Call it with sh.mu held.
func (sh *shard) unindex(b *batch) {
	r := &sh.c.ret
	l := sh.list(b.key.scope)
	l.unlink(b)
	sh.retained--
	l.stat.count.Add(-1)
	l.stat.bytes.Add(-b.size)
	if l.stat != &r.def {
		r.others.count.Add(-1)
		r.others.bytes.Add(-b.size)
	}
	if l.oldest == nil && l != &sh.def {
		delete(sh.scopes, b.key.scope)
		r.release(l.stat)
	}
}

func (l *scopeList) append(b *batch) {
	b.prev, b.next = l.newest, nil
	if l.newest != nil {
		l.newest.next = b
	} else {
		l.oldest = b
	}
	l.newest = b
}

func (l *scopeList) unlink(b *batch) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		l.oldest = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		l.newest = b.prev
	}
	b.prev, b.next = nil, nil
}

// since returns the time from c's epoch to now, by the monotonic clock.
func (c *Coordinator) since(now time.Time) time.Duration { return now.Sub(c.epoch) }

// armExpiry makes sh's timer sweep expired events at time at (since the
// epoch), unless it is pending already: it then fires no later than at,
// since every event gets the same TTL, and the sweep re-arms it. A timer,
// not a goroutine, so that an idle Coordinator runs nothing.
func (sh *shard) armExpiry(at time.Duration) {
	if sh.armed {
		return
	}
	sh.armed = true
	d := at - sh.c.since(time.Now())
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
	now := sh.c.since(time.Now())
	next, more := sh.sweepList(&sh.def, now)
	for _, l := range sh.scopes { // sweepList may delete l from sh.scopes
		if at, ok := sh.sweepList(l, now); ok && (!more || at < next) {
			next, more = at, true
		}
	}
	if more {
		sh.armExpiry(next)
	}
}

// sweepList expires l's events whose time has come and returns when the
// next one expires, if any is left.
func (sh *shard) sweepList(l *scopeList, now time.Duration) (next time.Duration, more bool) {
	for b := l.oldest; b != nil; b = l.oldest {
		if !b.expired(now) {
			return b.expires, true
		}
		sh.unindex(b)
		delete(sh.names, b.key)
		sh.count.expired++
		b.discard()
	}
	return 0, false
}

// expired reports whether b has expired at now (since the epoch).
func (b *batch) expired(now time.Duration) bool { return now >= b.expires }
