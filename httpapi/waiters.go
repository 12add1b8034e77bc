package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/eventcoord/eventcoord"
)

// Bounds of the registrations made through POST /v1/waiters.
const (
	// DefaultLease is how long a registration lives with no request in
	// progress on it, unless its request asks for another leaseMs: a
	// client that goes away without cancelling leaves it for no longer.
	DefaultLease = time.Minute
	// MaxLease is the longest lease a registration may ask for.
	MaxLease = 10 * time.Minute
	// maxRequestsPerWaiter bounds the requests in progress on one
	// registration, so that its key's requests stay bounded by its
	// registrations (-max-waits-per-key).
	maxRequestsPerWaiter = 4
)

// How a registration ended, the values of eventd_registrations_total's
// outcome label.
const (
	endTaken     = "taken"     // a wait returned its event
	endLeft      = "left"      // a wait with cancelOnTimeout ended without an event
	endCancelled = "cancelled" // DELETE
	endExpired   = "expired"   // its lease passed
	endShutdown  = "shutdown"  // Drain, or the backend closed
)

// remoteWaiter is a registration held by the server for a client: an
// eventcoord.Registration of one scope under an unguessable id.
type remoteWaiter struct {
	id, scope string
	reg       eventcoord.Registration
	lease     time.Duration
	release   func() // gives the key's wait slot back; called once, when it leaves the registry

	// gone ends when the waiter leaves the registry, so that the requests
	// in progress on it end too.
	gone    context.Context
	setGone context.CancelFunc

	busy    int         // requests in progress on it; guarded by the registry's mu
	expiry  *time.Timer // removes it a lease after its last request; guarded by the registry's mu
	removed bool        // guarded by the registry's mu
}

// waiterSet holds the registrations made over HTTP, each until it is taken,
// cancelled or expired, or until Drain.
type waiterSet struct {
	end func(outcome string) // counts a registration's end

	mu     sync.Mutex
	byID   map[string]*remoteWaiter // guarded by mu
	closed bool                     // no more registrations: Drain was called; guarded by mu
}

func newWaiterSet(end func(outcome string)) *waiterSet {
	return &waiterSet{end: end, byID: map[string]*remoteWaiter{}}
}

// add registers reg of scope under a new id, to expire a lease after its
// last request; release is called once when it leaves. It returns nil
// once the registry is closed, having called neither.
func (g *waiterSet) add(scope string, reg eventcoord.Registration, lease time.Duration, release func()) *remoteWaiter {
	w := &remoteWaiter{id: newID(), scope: scope, reg: reg, lease: lease, release: release}
	w.gone, w.setGone = context.WithCancel(context.Background())
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		w.setGone()
		return nil
	}
	g.byID[w.id] = w
	w.expiry = time.AfterFunc(lease, func() { g.expire(w) })
	return w
}

// newID returns 128 random bits in hex: ids cannot be guessed, and one
// key's ids are no use to another key anyway.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// acquire returns the waiter id of scope for a request, holding its lease
// until done is called; ok is false if there is none (another scope's id
// is none), and busy is set if it has maxRequestsPerWaiter requests in
// progress already.
func (g *waiterSet) acquire(scope, id string) (w *remoteWaiter, busy, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w = g.byID[id]
	if w == nil || w.scope != scope {
		return nil, false, false
	}
	if w.busy >= maxRequestsPerWaiter {
		return nil, true, true
	}
	w.busy++
	w.expiry.Stop()
	return w, false, true
}

// done ends a request that acquire admitted: the lease runs again from now
// once no request is in progress.
func (g *waiterSet) done(w *remoteWaiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w.busy--
	if w.busy == 0 && !w.removed {
		w.expiry.Reset(w.lease)
	}
}

// lookup returns the waiter id of scope, or nil.
func (g *waiterSet) lookup(scope, id string) *remoteWaiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w := g.byID[id]; w != nil && w.scope == scope {
		return w
	}
	return nil
}

// remove takes w out of the registry because of outcome and reports
// whether this call did (false: it was out already). Its requests in
// progress end; the caller cancels w.reg if it has to.
func (g *waiterSet) remove(w *remoteWaiter, outcome string) bool {
	g.mu.Lock()
	ok := g.takeOut(w)
	g.mu.Unlock()
	if ok {
		g.finish(w, outcome)
	}
	return ok
}

// takeOut removes w from the map, if it is still there. Call it with mu
// held; call finish after unlocking if it reports true.
func (g *waiterSet) takeOut(w *remoteWaiter) bool {
	if w.removed {
		return false
	}
	w.removed = true
	delete(g.byID, w.id)
	w.expiry.Stop()
	return true
}

// cancel takes w out of the registry and cancels its registration, for
// DELETE, and reports whether this call took it out (ok) and whether a
// wait in progress took its event first (taken: that wait answers it, and
// the DELETE changed nothing; answering "cancelled" too made the client
// drop the event, found by an outside tester).
func (g *waiterSet) cancel(w *remoteWaiter) (taken, ok bool) {
	ok = g.withdraw(w, endCancelled, func() bool {
		// Cancel and a Wait racing it in-process: one compare-and-swap decides.
		w.reg.Cancel()
		_, err := w.reg.Wait(alreadyDone)
		taken = err == nil
		return taken
	})
	return taken, ok
}

// withdraw takes w out of the registry and ends the requests in progress
// on it, then calls end, which makes its registration leave (Cancel, or a
// Wait whose context has ended) and reports whether its event was taken;
// the end is counted as endTaken if so, else as outcome. The requests end
// first so that none of them takes the leaving, which closes Done, for an
// event. It reports false, without calling end, if w was out already.
func (g *waiterSet) withdraw(w *remoteWaiter, outcome string, end func() (taken bool)) bool {
	g.mu.Lock()
	ok := g.takeOut(w)
	g.mu.Unlock()
	if !ok {
		return false
	}
	w.setGone()
	if end() {
		outcome = endTaken
	}
	g.finish(w, outcome)
	return true
}

// finish ends what a waiter taken out of the registry holds.
func (g *waiterSet) finish(w *remoteWaiter, outcome string) {
	w.setGone()
	w.release()
	g.end(outcome)
}

// expire removes w, a lease after its last request, and cancels its
// registration, which gives back an event it holds (S3). A request that
// came as the timer fired keeps it: the lease runs again when it is done.
func (g *waiterSet) expire(w *remoteWaiter) {
	g.mu.Lock()
	ok := w.busy == 0 && g.takeOut(w)
	g.mu.Unlock()
	if ok {
		g.finish(w, endExpired)
		w.reg.Cancel()
	}
}

// drain closes the registry and cancels every registration in it.
func (g *waiterSet) drain() {
	g.mu.Lock()
	g.closed = true
	all := make([]*remoteWaiter, 0, len(g.byID))
	for _, w := range g.byID {
		g.takeOut(w)
		all = append(all, w)
	}
	g.mu.Unlock()
	for _, w := range all {
		g.finish(w, endShutdown)
		w.reg.Cancel()
	}
}

// len returns the number of registrations held.
func (g *waiterSet) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.byID)
}

// alreadyDone is a context that has ended: a Registration's Wait with it
// returns at once, the event if the Registration returned one.
var alreadyDone = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
