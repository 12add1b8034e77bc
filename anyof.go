package eventcoord

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// An any-of wait (a wait with [Or]) joins the pending batch of each of its
// names as a member. Its claim word decides, once, which name serves it:
// whoever fires a batch with members in it (Signal, a give-back, Close)
// claims each member by a compare-and-swap under that batch's shard lock
// before counting it (settle). A member whose wait another name claimed
// first, or that left, is dropped there as if it had never joined: not
// woken, not in Receipt.Woken, and if nobody else was in the batch the
// event is retained exactly as if nobody had waited. Taking a retained
// event while registering claims by the same compare-and-swap. So no name
// hands an any-of wait an event it will not return, and nothing is given
// back for the names that lost.
//
// The wait's Waiter belongs to a home batch of its own, which no map holds:
// its ready channel is the wait's Done, and once a name served the wait,
// the home batch carries a copy of that event, so that Waiter.Wait and
// Done work as for any other Waiter. The claimer removes the wait's other
// members, one shard lock at a time (never two at once), then copies the
// event home and closes the home batch's ready channel (claimed). A wait
// that leaves before any name served it removes its members itself
// (withdraw); one that leaves after leaves the batch that served it, as
// any holder of it does (leaving), giving the event back to that name.

// anyWait is one wait on several names.
type anyWait struct {
	home    batch        // the Waiter's batch: ready, and once served a copy of ev and closed
	w       Waiter       // handed out; w.b is &home
	claim   atomic.Int32 // 0: open; i+1: member i won; -1: withdrawn (the wait left)
	won     *batch       // the batch that served the wait; set by the claim, read after home.ready is closed
	members []member     // one per name, in the order given
}

// member is an any-of wait's place in the pending batch of one name.
type member struct {
	aw  *anyWait // read-only
	sh  *shard   // read-only
	key key      // read-only
	idx int32    // its index in aw.members; read-only

	b          *batch  // the pending batch joined; guarded by sh.mu
	prev, next *member // links of b.members; guarded by sh.mu
	in         bool    // in b.members and counted in b.holders and sh.waiters; guarded by sh.mu
}

// anyWait returns the any-of wait whose home batch b is.
func (b *batch) anyWait() *anyWait { return b.members.aw }

// joined is what joinMember did.
type joined int

const (
	memberJoined  joined = iota // the member joined its name's pending batch
	memberTook                  // it took its name's retained event: the wait is served
	memberClaimed               // the wait was claimed meanwhile: it is served
	memberClosed                // the shard is closed
)

// joinAny registers an any-of wait on spec's names in the given order:
// each member takes its name's retained event if there is one (unless
// spec.Fresh), which serves the wait, or joins the name's pending batch.
// So of events retained when the wait starts, the first name's is taken.
func (c *Coordinator) joinAny(scope string, spec WaitSpec) (*Waiter, error) {
	aw := &anyWait{members: make([]member, len(spec.Names))}
	for i, name := range spec.Names { // before any member joins: claimers read them
		k := key{scope: scope, name: name}
		aw.members[i] = member{aw: aw, sh: c.shardFor(k), key: k, idx: int32(i)}
	}
	aw.home = batch{ready: make(chan struct{}), home: true, members: &aw.members[0]}
	aw.w.b = &aw.home
	for i := range aw.members {
		m := &aw.members[i]
		switch m.sh.joinMember(m, spec.Fresh) {
		case memberJoined:
			continue
		case memberTook:
			aw.claimed()
		case memberClosed:
			if aw.withdraw(ErrClosed) {
				return nil, ErrClosed
			}
		}
		return &aw.w, nil // served; its claimer removes the members that joined
	}
	return &aw.w, nil
}

// joinMember makes m a member of its name's pending batch (the Fresh one
// if fresh), or takes the name's retained event for m's wait, unless the
// wait is claimed already or the shard closed.
func (sh *shard) joinMember(m *member, fresh bool) joined {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return memberClosed
	}
	aw := m.aw
	if aw.claim.Load() != 0 {
		return memberClaimed
	}
	var b *batch
	if fresh {
		b = sh.freshBatch(m.key)
	} else {
		b = sh.names[m.key]
		if b != nil && b.fired { // retained: m's wait takes it unless it expired
			if b.expired(sh.c.since(time.Now())) {
				sh.unindex(b)
				delete(sh.names, m.key)
				sh.count.expired++
				b.discard()
				b = nil
			} else {
				if !aw.claim.CompareAndSwap(0, m.idx+1) {
					return memberClaimed
				}
				sh.unindex(b)
				delete(sh.names, m.key)
				sh.count.delivered++
				sh.count.woken++
				b.setHolders(1)
				b.usedOwn = true // never recycled: the wait refers to it
				aw.won = b
				return memberTook
			}
		}
		if b == nil {
			b = newBatch(sh, m.key, make(chan struct{}), false)
			sh.names[m.key] = b
		}
	}
	sh.unhot(b) // a batch with members is never hot: their count is in sh.waiters
	m.b, m.prev, m.next, m.in = b, nil, b.members, true
	if b.members != nil {
		b.members.prev = m
	}
	b.members = m
	b.state.Add(1)
	sh.waiters++
	return memberJoined
}

// settle decides the any-of members of the pending batch b before it
// fires: each whose wait is open is claimed for b and stays, to be woken
// with it (added to wk); each whose wait another name claimed, or that
// left, is dropped as if it had never joined. It returns b's holders then;
// a batch left with none is out of its map. Call it with sh.mu held, and
// fire b if the result is not 0.
func (sh *shard) settle(b *batch, wk *wakeups) int32 {
	if b.members == nil {
		return b.holders()
	}
	for m := b.members; m != nil; m = m.next {
		m.in = false
		if m.aw.claim.CompareAndSwap(0, m.idx+1) {
			m.aw.won = b
			b.usedOwn = true // the wait may refer to b after any Wait returned
			wk.won = append(wk.won, m.aw)
			continue
		}
		b.dropHolder()
		sh.waiters--
	}
	b.members = nil
	n := b.holders()
	if n == 0 {
		sh.unpend(b)
	}
	return n
}

// drop takes the member m, which is in, out of its pending batch. Call it
// with sh.mu held.
func (sh *shard) drop(m *member) {
	b := m.b
	if m.prev != nil {
		m.prev.next = m.next
	} else {
		b.members = m.next // nil once the last leaves: the key's signals take the plain path again
	}
	if m.next != nil {
		m.next.prev = m.prev
	}
	m.prev, m.next, m.in = nil, nil, false
	left := b.dropHolder()
	sh.waiters--
	if left == 0 {
		sh.unpend(b)
	}
}

// closeMembers claims, for the batch b that Close just marked closed and
// fired, the any-of waits of its members that are still open, and wakes
// them with ErrClosed. Call it with sh.mu held.
func (sh *shard) closeMembers(b *batch) {
	for m := b.members; m != nil; m = m.next {
		m.in = false
		if aw := m.aw; aw.claim.CompareAndSwap(0, m.idx+1) {
			aw.won, aw.home.closed = b, true
			close(aw.home.ready)
		}
	}
	b.members = nil
}

// tidy removes the wait's members but the one at index except, one shard
// lock at a time.
func (aw *anyWait) tidy(except int) {
	for i := range aw.members {
		if i == except {
			continue
		}
		m := &aw.members[i]
		m.sh.mu.Lock()
		if m.in {
			m.sh.drop(m)
		}
		m.sh.mu.Unlock()
	}
}

// claimed finishes a claim that served the wait with the fired batch
// aw.won: it removes the wait's other members, copies the event home and
// wakes the wait. Call it with no lock held, after the claim's unlock: the
// event and closed of a fired batch do not change any more.
func (aw *anyWait) claimed() {
	aw.tidy(int(aw.claim.Load()) - 1)
	aw.home.ev, aw.home.closed = aw.won.ev, aw.won.closed
	close(aw.home.ready)
}

// withdraw makes the wait leave because of err, unless a name claimed it
// first, and reports whether it left (also if it had left before).
func (aw *anyWait) withdraw(err error) bool {
	if !aw.claim.CompareAndSwap(0, -1) {
		return aw.claim.Load() < 0
	}
	why := leftCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		why = leftDeadline
	}
	aw.w.state.CompareAndSwap(waiting, why)
	aw.tidy(-1)
	close(aw.home.ready) // no name can claim the wait any more: wake a Wait blocked on it
	return true
}

// leaving is where Waiter.leave of an any-of wait starts: it withdraws the
// wait and returns nil, or, if a name served it, waits until its claimer
// has handed the event home and returns the batch that served it, which
// the Waiter then leaves as any holder of it does.
func (aw *anyWait) leaving(err error) *batch {
	if aw.withdraw(err) {
		return nil
	}
	<-aw.home.ready // the claimer is done in a moment: it holds no lock now
	return aw.won
}
