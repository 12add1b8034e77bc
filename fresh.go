package eventcoord

// Fresh waits (see [Fresh]) gather in a pending batch of their own per
// key, in the shard's fresh map, beside the key's retained event or its
// pending batch of plain waits in the names map. So a key may hold a
// retained event and pending waiters at once, which a plain wait never
// lets happen since it takes the retained event. A signal fires both
// pending batches (signalMixed); a given-back event goes to the plain one
// only, as it is older than the Fresh waits (giveBack).

// joinFresh makes w a Fresh waiter on k: a member of k's Fresh pending
// batch. For a nil w it hands out one of the batch's Waiters. It returns
// w.
func (c *Coordinator) joinFresh(w *Waiter, k key) (*Waiter, error) {
	sh := c.shardFor(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return nil, ErrClosed
	}
	b := sh.freshBatch(k)
	if w == nil {
		w = b.newWaiter()
	}
	sh.waiters++
	b.state.Add(1)
	w.b = b
	return w, nil
}

// freshBatch returns k's Fresh pending batch, made if there is none. Call
// it with sh.mu held.
func (sh *shard) freshBatch(k key) *batch {
	if b := sh.fresh[k]; b != nil {
		return b
	}
	if sh.fresh == nil {
		sh.fresh = make(map[key]*batch)
	}
	b := newBatch(sh, k, make(chan struct{}), false)
	sh.fresh[k] = b
	return b
}

// closeFresh wakes the Fresh waiters of a shard being closed with
// ErrClosed. Call it with sh.mu held.
func (sh *shard) closeFresh() {
	for _, b := range sh.fresh {
		b.closed, b.fired = true, true
		sh.closeMembers(b)
		sh.waiters -= b.seal()
		close(b.ready)
	}
	sh.fresh = nil
}
