package eventcoord

import "time"

// A key whose waiters are all plain single-name waits is served by
// Signal's own path in coordinator.go. This file serves the others: a key
// with a pending batch of Fresh waits (fresh.go) or with members of any-of
// waits in its pending batch (anyof.go). Signal comes here whenever its
// shard holds a Fresh batch or its key's pending batch has any-of members,
// so that the plain path pays two loads for them and nothing more.

// wakeups is what a change made under a shard's lock wakes once the lock
// is released: the channels of batches it fired and the any-of waits it
// claimed.
type wakeups struct {
	ready [2]chan struct{} // a key's pending batch and its Fresh one
	won   []*anyWait
}

// wake closes wk's channels and settles the any-of waits it claimed. Call
// it with no lock held.
func (wk *wakeups) wake() {
	for _, ch := range wk.ready {
		if ch != nil {
			close(ch)
		}
	}
	for _, aw := range wk.won {
		aw.claimed()
	}
}

// signalMixed is Signal for the key k in shard sh, called with sh.mu held,
// when sh holds Fresh batches or k's pending batch has any-of members. It
// releases sh.mu. The pending batch and the Fresh one of k both fire, and
// the event is retained only if neither has a waiter left once the any-of
// members whose wait another name served are dropped (settle): as if those
// had never waited.
func (c *Coordinator) signalMixed(sh *shard, k key, data Data, now time.Time) (Receipt, error) {
	size := int64(-1) // measured only if the event is to be retained
	for {
		if sh.closed {
			sh.mu.Unlock()
			return Receipt{}, ErrClosed
		}
		var wk wakeups
		cur := sh.names[k]
		pend, fresh := (*batch)(nil), sh.fresh[k]
		if cur != nil && !cur.fired {
			pend, cur = cur, nil
			if sh.settle(pend, &wk) == 0 {
				pend = nil
			}
		}
		if fresh != nil && sh.settle(fresh, &wk) == 0 {
			fresh = nil
		}
		if pend != nil || fresh != nil {
			seq := c.seq.Add(1)
			sh.count.signals++
			sh.count.delivered++
			ev := Event{Name: k.name, Data: data, Seq: seq, SignaledAt: now}
			n := 0
			if pend != nil && fresh != nil {
				pend.twin(fresh)
			}
			if pend != nil {
				delete(sh.names, k)
				n += sh.hand(pend, ev)
				wk.ready[0] = pend.ready
			}
			if fresh != nil {
				delete(sh.fresh, k)
				n += sh.hand(fresh, ev)
				wk.ready[1] = fresh.ready
			}
			sh.mu.Unlock()
			wk.wake()
			return Receipt{Seq: seq, Woken: n}, nil
		}
		if size < 0 && c.ttl > 0 {
			var small bool
			if size, small = smallDataSize(data); !small {
				sh.mu.Unlock() // as Signal does: measure outside the lock, then look again
				size = dataSize(data, c.ret.sizeLimit())
				sh.mu.Lock()
				continue
			}
		}
		return sh.retainSignal(k, cur, data, size, now), nil
	}
}

// hand fires the pending batch b, already out of its map, with ev, and
// returns how many waiters it reached; the caller counts the delivery and
// closes b.ready after releasing sh.mu. Call it with sh.mu held.
func (sh *shard) hand(b *batch, ev Event) int {
	b.ev, b.fired = ev, true
	n := b.seal()
	sh.leftHot(b, n)
	if b.usedOwn {
		sh.hint = int32(n)
	}
	sh.count.woken += uint64(n)
	return n
}

// twin links the plain and the Fresh pending batch of a key, b and f,
// which one signal fires with the same event: that event is given back
// only when nobody in either returned or holds it (abandoned). The link is
// next, which a held batch does not use otherwise, and it keeps both from
// being recycled. Call it with sh.mu held.
func (b *batch) twin(f *batch) {
	b.next, f.next = f, b
	b.usedOwn, f.usedOwn = true, true
}

// abandoned reports whether the fired batch b, and its twin if it has
// one, has no holder left: nobody returned its event or still holds it.
// Call it with the shard's mu held.
func (b *batch) abandoned() bool {
	return b.holders() == 0 && (b.next == nil || b.next.holders() == 0)
}

// unpend takes the pending batch b, which lost its last holder, out of its
// map, and out of hot if it was. Call it with sh.mu held.
func (sh *shard) unpend(b *batch) {
	if sh.hot.Load() == b {
		sh.hot.Store(nil)
	}
	if len(sh.fresh) != 0 && sh.fresh[b.key] == b {
		delete(sh.fresh, b.key)
		return
	}
	delete(sh.names, b.key)
}
