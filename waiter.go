package eventcoord

import (
	"context"
	"errors"
	"sync/atomic"
)

// Waiter is a registration made by [Coordinator.Register]: it receives the
// first event signaled on its name after it was registered, or the event
// that was retained then (not with [Fresh]); registered on several names
// (with [Or]), the first event of any of them. A Waiter serves one event.
//
// Its methods are safe for concurrent use. Once Wait has returned an event,
// further calls return the same event; once the Waiter has left (Cancel, or
// a Wait whose context ended), further calls return context.Canceled or
// context.DeadlineExceeded, whichever made it leave.
type Waiter struct {
	b     *batch        // the batch this waiter belongs to (an any-of wait's home batch); set once by join
	state atomic.Uint32 // one of the states below
}

// A Waiter's states. It leaves waiting exactly once, by a compare-and-swap,
// so returning the event and cancelling can never both happen.
const (
	waiting uint32 = iota
	returned
	leftCanceled
	leftDeadline
)

// Wait blocks until the waiter's event arrives or ctx ends. It returns the
// event; ErrClosed if the Coordinator was closed first; or ctx.Err() if ctx
// ended first, in which case the waiter leaves as if by Cancel. An event
// that arrives as ctx ends is returned (delivery wins).
func (w *Waiter) Wait(ctx context.Context) (Event, error) {
	if err := w.leftErr(); err != nil {
		return Event{}, err
	}
	done := ctx.Done()
	if done == nil { // a context that never ends: a plain receive is cheapest
		<-w.b.ready
		return w.take()
	}
	select {
	case <-w.b.ready:
		return w.take()
	default:
	}
	select {
	case <-w.b.ready:
		return w.take()
	case <-done:
		err := ctx.Err()
		if w.leave(err, false) {
			return Event{}, err
		}
		if w.b.token { // fired, its token on the way: take it, or the batch's channel is not empty when reused
			<-w.b.ready
		}
		return w.take()
	}
}

// Done returns a channel that is closed when the waiter's event (or
// ErrClosed) is ready, for use in a select; call Wait to receive it.
//
// Once the waiter has left (Cancel, or a Wait whose context ended), Wait
// returns at once why it left, and Done is closed as soon as no waiter is
// left with it: at once for a waiter alone on its name or on several names
// (with Or); the channel of a waiter on one name is shared with the
// waiters registered with it, so otherwise it is closed when a signal
// reaches them, or at Close.
func (w *Waiter) Done() <-chan struct{} { return w.b.ready }

// Cancel withdraws the waiter; later Waits return context.Canceled, and so
// does a Wait blocked on the waiter in another goroutine, once Done is
// closed (see Done: at once unless other waiters share its channel). If the
// waiter holds an event it has not returned from Wait, and no other waiter
// returned or still holds that event, the event is given back: handed to
// the waiters now waiting on the name, or retained again (unless a newer
// event is retained by then). Cancel is idempotent, does not block on
// anything but the Coordinator's internal lock, and does nothing after
// Wait returned an event.
func (w *Waiter) Cancel() { w.leave(context.Canceled, true) }

// take returns the waiter's fired event, unless the waiter left first.
func (w *Waiter) take() (Event, error) {
	if w.state.CompareAndSwap(waiting, returned) || w.state.Load() == returned {
		if w.b.closed {
			return Event{}, ErrClosed
		}
		return w.b.ev, nil
	}
	return Event{}, w.leftErr()
}

// leave withdraws the waiter because of err and reports whether it has
// left. With cancel false (a Wait whose context ended) a fired event wins
// and leave reports false; with cancel true a held event is given back.
func (w *Waiter) leave(err error, cancel bool) bool {
	b := w.b
	if b.home { // an any-of wait leaves its names, or the batch that served it (anyof.go)
		if b = b.anyWait().leaving(err); b == nil {
			return true
		}
	}
	sh := b.sh
	sh.mu.Lock()
	if b.fired && !cancel {
		sh.mu.Unlock()
		return false
	}
	why := leftCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		why = leftDeadline
	}
	if !w.state.CompareAndSwap(waiting, why) {
		sh.mu.Unlock()
		return w.state.Load() != returned
	}
	left := b.dropHolder()
	var wake wakeups // filled under the lock: the batch may be recycled after
	scope, over := b.key.scope, false
	switch {
	case !b.fired:
		if sh.hot.Load() != b { // the hot batch's holders are not in sh.waiters
			sh.waiters--
		}
		if left == 0 {
			sh.unpend(b)
			// Sealed and out of the shard, b fires no more: wake a Wait
			// that another goroutine has blocked on this Waiter, so that
			// it returns why the Waiter left.
			close(b.ready)
		}
	case b.abandoned() && !b.closed:
		if b.size < 0 { // it may be retained again: measure it, outside the lock if large
			var small bool
			if b.size, small = smallDataSize(b.ev.Data); !small {
				sh.mu.Unlock() // nobody else holds b any more
				size := dataSize(b.ev.Data, sh.c.ret.sizeLimit())
				sh.mu.Lock()
				b.size = size
			}
		}
		over = sh.giveBack(b, &wake)
	}
	sh.mu.Unlock()
	wake.wake()
	if over {
		sh.c.enforce(scope, key{}, 0)
	}
	return true
}

// leftErr returns why the waiter left, or nil if it has not.
func (w *Waiter) leftErr() error {
	switch w.state.Load() {
	case leftCanceled:
		return context.Canceled
	case leftDeadline:
		return context.DeadlineExceeded
	}
	return nil
}
