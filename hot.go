package eventcoord

// A shard's hot batch is a pending batch that Registers join without the
// shard's lock: when n goroutines woken by one signal each register again
// for the next, taking the lock n times makes them queue on it, and a
// queued goroutine parks and is woken again, which costs about what the
// signal's wake-up does. One batch a shard is hot at a time: the first
// that a Register joins while none is, until it fires or loses its last
// holder, or an any-of wait joins it (unhot): only batches of plain waits
// are hot, and one that stopped being hot stays sealed.
//
// A batch's state word holds its holder count, the sealed bit and how many
// Waiters were taken from its chunk. A Register joins the hot batch by a
// compare-and-swap that adds a holder and takes a Waiter unless the batch
// is sealed or the chunk used up, so it either joins before the batch fires
// (and is counted in the Receipt and woken) or sees it sealed and takes
// the lock; under the lock, firing, closing and losing the last holder
// seal the batch before anything else. A batch that was hot has a Waiter
// from Register, so it is never recycled: a Register that read the hot
// pointer just before it changed still reads the batch it meant to.
//
// The shard's waiters count leaves out the hot batch's holders, which no
// lock guards; Stats adds them, and the batch's count is final once it is
// sealed, when it stops being hot (leftHot).

// The bits of a batch's state above its holders: sealed marks a batch that
// no Register may join without the lock (it fired, lost its last holder
// while pending, or stopped being hot), and the bits above it count the
// Waiters taken from its chunk, so that joining is one compare-and-swap.
const (
	sealed      = 1 << 32
	takenShift  = 33
	holdersMask = 1<<32 - 1
)

// holders returns how many waiters hold b (see batch.state).
func (b *batch) holders() int32 { return int32(uint32(b.state.Load())) }

// seal seals b and returns its holders, which no Register changes from
// then on. Call it with the shard's mu held.
func (b *batch) seal() int { return int(uint32(b.state.Or(sealed))) }

// setHolders sets the holders of b, which is not pending, and seals it.
// Call it with the shard's mu held.
func (b *batch) setHolders(n uint32) {
	b.state.Store(b.state.Load()&^holdersMask | sealed | uint64(n))
}

// take takes a Waiter from b's chunk, which is set, adding add holders in
// the same step, and returns it; or nil if the chunk is used up, or if b
// is sealed and add is not 0 (a join without the lock).
func (b *batch) take(add uint64) *Waiter {
	ws := b.chunk.Load().ws
	for {
		s := b.state.Load()
		i := s >> takenShift
		if i >= uint64(len(ws)) || add != 0 && s&sealed != 0 {
			return nil
		}
		if b.state.CompareAndSwap(s, s+add+1<<takenShift) {
			return &ws[i]
		}
	}
}

// dropHolder takes a holder off b and returns how many are left; a batch
// left with none is sealed in the same step, so that no Register joins a
// batch on its way out of the shard's map. Call it with the shard's mu
// held.
func (b *batch) dropHolder() int32 {
	for {
		s := b.state.Load()
		n := s - 1
		if uint32(n) == 0 {
			n |= sealed
		}
		if b.state.CompareAndSwap(s, n) {
			return int32(uint32(n))
		}
	}
}

// leftHot accounts for the n waiters of the pending batch b, just sealed,
// leaving the shard's waiters: b stops being hot if it was, else sh.waiters
// counted them. Call it with sh.mu held.
func (sh *shard) leftHot(b *batch, n int) {
	if sh.hot.Load() == b {
		sh.hot.Store(nil)
		return
	}
	sh.waiters -= n
}

// unhot makes b an ordinary pending batch if it is the hot one, for a
// change that no Register may race with (an any-of member joining): b is
// sealed for good, and its holders go back into sh.waiters. Call it with
// sh.mu held.
func (sh *shard) unhot(b *batch) {
	if sh.hot.Load() != b {
		return
	}
	sh.hot.Store(nil)
	sh.waiters += b.seal()
}

// joinHot registers a Waiter on k without the shard's lock if k's pending
// batch is the shard's hot batch and has a Waiter free in its chunk, and
// returns it; else it returns nil and the caller takes the lock.
func (sh *shard) joinHot(k key) *Waiter {
	b := sh.hot.Load()
	if b == nil || b.key != k {
		return nil
	}
	if b.chunk.Load() == nil {
		return nil
	}
	w := b.take(1)
	if w == nil {
		return nil
	}
	w.b = b
	return w
}
