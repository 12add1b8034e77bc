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
// ever hands an any-of wait an event it will not return, and nothing is
// given back for the names that lost.
//
// The winner's claimer then removes the wait's other members, one shard
// lock at a time (never two at once), and closes the wait's ready channel;
// a withdrawn wait removes them itself. Until then a member another name
// claimed still counts as a waiter of its name.

// anyWait is one wait on several names.
type anyWait struct {
	w       Waiter        // handed out; w.any is this; w.b is the winning member's batch, set by the claim
	ready   chan struct{} // closed once claimed, after the claimer set w.b and removed the other members
	claim   atomic.Int32  // 0: open; i+1: member i won; -1: withdrawn (the wait left)
	members []member      // one per name, in the order given
}

// member is an any-of wait's place in the pending batch of one name.
type member struct {
	aw  *anyWait
	sh  *shard // read-only
	key key    // read-only
	idx int32  // its index in aw.members; read-only

	b   *batch // the pending batch joined; guarded by sh.mu
	pos int    // its index in b.anyOf while in; guarded by sh.mu
	in  bool   // in b.anyOf and counted in b.holders and sh.waiters; guarded by sh.mu
}

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
	aw := &anyWait{ready: make(chan struct{}), members: make([]member, len(spec.Names))}
	aw.w.any = aw
	for i, name := range spec.Names { // before any member joins: claimers read them
		k := key{scope: scope, name: name}
		aw.members[i] = member{aw: aw, sh: c.shardFor(k), key: k, idx: int32(i)}
	}
	for i := range aw.members {
		m := &aw.members[i]
		switch m.sh.joinMember(m, spec.Fresh) {
		case memberJoined:
			continue
		case memberTook:
			aw.tidy(i)
			close(aw.ready)
		case memberClosed:
			if aw.withdraw(ErrClosed) {
				return nil, ErrClosed
			}
		}
		return &aw.w, nil // served; a claimer removes the members that joined
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
				b.holders = 1
				aw.w.b = b
				return memberTook
			}
		}
		if b == nil {
			b = newBatch(sh, m.key, make(chan struct{}))
			sh.names[m.key] = b
		}
	}
	m.b, m.pos, m.in = b, len(b.anyOf), true
	b.anyOf = append(b.anyOf, m)
	b.holders++
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
	if b.anyOf == nil {
		return b.holders
	}
	for _, m := range b.anyOf {
		m.in = false
		if m.aw.claim.CompareAndSwap(0, m.idx+1) {
			m.aw.w.b = b
			wk.won = append(wk.won, m.aw)
			continue
		}
		b.holders--
		sh.waiters--
	}
	b.anyOf = nil
	if b.holders == 0 {
		sh.unpend(b)
	}
	return b.holders
}

// drop takes the member m out of its pending batch. Call it with sh.mu
// held, for a member that is in.
func (sh *shard) drop(m *member) {
	b := m.b
	last := len(b.anyOf) - 1
	b.anyOf[m.pos] = b.anyOf[last]
	b.anyOf[m.pos].pos = m.pos
	b.anyOf[last] = nil
	b.anyOf = b.anyOf[:last]
	if last == 0 {
		b.anyOf = nil // the batch's signals take the plain path again
	}
	m.in = false
	b.holders--
	sh.waiters--
	if b.holders == 0 {
		sh.unpend(b)
	}
}

// closeMembers claims, for the batch b that Close just marked closed and
// fired, the any-of waits of its members that are still open, and wakes
// them with ErrClosed. Call it with sh.mu held.
func (sh *shard) closeMembers(b *batch) {
	for _, m := range b.anyOf {
		m.in = false
		if m.aw.claim.CompareAndSwap(0, m.idx+1) {
			m.aw.w.b = b
			close(m.aw.ready)
		}
	}
	b.anyOf = nil
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

// claimed finishes a claim made by settle: it removes the wait's other
// members and wakes the wait. Call it with no lock held.
func (aw *anyWait) claimed() {
	aw.tidy(int(aw.claim.Load()) - 1)
	close(aw.ready)
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
	return true
}

// wait is Waiter.Wait of an any-of wait.
func (aw *anyWait) wait(ctx context.Context) (Event, error) {
	w := &aw.w
	if err := w.leftErr(); err != nil {
		return Event{}, err
	}
	select {
	case <-aw.ready:
		return w.take()
	default:
	}
	select {
	case <-aw.ready:
		return w.take()
	case <-ctx.Done():
		err := ctx.Err()
		if aw.withdraw(err) {
			return Event{}, err
		}
		<-aw.ready // claimed: the claimer is handing the event over (delivery wins)
		return w.take()
	}
}

// cancel is Waiter.Cancel of an any-of wait: it withdraws the wait, or,
// once claimed, leaves the winning batch as a Waiter of it does, giving
// the event back to that name if nobody else returned it.
func (aw *anyWait) cancel() {
	if aw.withdraw(context.Canceled) {
		return
	}
	<-aw.ready
	aw.w.leave(context.Canceled, true)
}
