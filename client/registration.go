package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/eventcoord/eventcoord"
)

// Bounds of a Registration's requests that no caller's context bounds.
const (
	// cancelTimeout bounds Cancel's request, and the one a Wait whose
	// context ended makes to leave.
	cancelTimeout = 30 * time.Second
	// retryPause is how long the keeper of a registration waits after a
	// failed request before the next.
	retryPause = time.Second
)

// Register registers a wait on name (and the names given with
// eventcoord.Or) in the server, so that a signal sent any time after
// Register returns reaches the Registration: register, then act, then
// wait (POST /v1/waiters; eventd only).
//
// The Registration behaves as in-process (see [eventcoord.Registration]):
// Done is closed once its event is there, Wait returns it, Cancel
// withdraws it and has the server give back an event it holds. The server
// keeps it on a lease: until Wait or Cancel, a goroutine of the client
// holds the lease and watches for the event (one request at a time), so
// a client that vanishes leaves it for one lease at most (see WithLease).
// The caller must call Wait or Cancel. Cancel, and a Wait whose context
// has ended, make one request each (bounded by 30 s), as only the server
// can withdraw it. The Registration's methods are safe for concurrent use.
func (c *Client) Register(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Registration, error) {
	spec, err := eventcoord.NewWaitSpec(name, opts...)
	if err != nil {
		return nil, err
	}
	var out struct {
		Data struct {
			ID        string `json:"id"`
			Ready     bool   `json:"ready"`
			LeaseMs   int64  `json:"leaseMs"`
			MaxWaitMs int64  `json:"maxWaitMs"`
		} `json:"data"`
	}
	body := struct {
		Name    string   `json:"name"`
		AnyOf   []string `json:"anyOf,omitempty"`
		Fresh   bool     `json:"fresh,omitempty"`
		LeaseMs int64    `json:"leaseMs,omitempty"`
	}{Name: name, AnyOf: spec.Names[1:], Fresh: spec.Fresh}
	if c.lease > 0 {
		body.LeaseMs = max(c.lease.Milliseconds(), 1)
	}
	if _, err := c.do(ctx, http.MethodPost, c.base+"/v1/waiters", body, &out); err != nil {
		return nil, wrap("register", name, err)
	}
	d := out.Data
	if d.ID == "" || d.LeaseMs <= 0 || d.MaxWaitMs <= 0 {
		return nil, fmt.Errorf("register %q: %w: %+v", name, errBadAnswer, d)
	}
	keeperCtx, stop := context.WithCancel(context.Background())
	r := &registration{
		c: c, name: name, url: c.base + "/v1/waiters/" + url.PathEscape(d.ID),
		lease: time.Duration(d.LeaseMs) * time.Millisecond, maxWait: time.Duration(d.MaxWaitMs) * time.Millisecond,
		done: make(chan struct{}), stopKeeper: stop, kept: make(chan struct{}),
	}
	if d.Ready {
		r.markDone()
	}
	go r.keep(keeperCtx, d.Ready)
	return r, nil
}

// registration is a Registration held by the server (see Register).
type registration struct {
	c             *Client
	name, url     string // the name given to Register; the registration's URL
	lease         time.Duration
	maxWait       time.Duration // the server's ceiling on a wait
	done          chan struct{} // closed by markDone
	doneOnce      sync.Once
	stopKeeper    context.CancelFunc
	kept          chan struct{} // closed when keep has returned
	stopKeeperOne sync.Once

	mu        sync.Mutex
	final     bool             // Wait returns ev, err from now on; guarded by mu
	ev        eventcoord.Event // guarded by mu
	err       error            // guarded by mu
	cancelled bool             // Cancel was called; guarded by mu
}

var _ eventcoord.Registration = (*registration)(nil)

func (r *registration) Done() <-chan struct{} { return r.done }

func (r *registration) markDone() { r.doneOnce.Do(func() { close(r.done) }) }

// result returns what Wait returns from now on, if that is settled.
func (r *registration) result() (eventcoord.Event, error, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ev, r.err, r.final
}

// finish settles what Wait returns, unless it is settled already, and
// returns what is settled.
func (r *registration) finish(ev eventcoord.Event, err error) (eventcoord.Event, error) {
	r.mu.Lock()
	if !r.final {
		r.final, r.ev, r.err = true, ev, err
	}
	ev, err = r.ev, r.err
	r.mu.Unlock()
	r.markDone()
	return ev, err
}

// gone settles the Wait of a registration the server no longer holds.
func (r *registration) gone() (eventcoord.Event, error) {
	r.mu.Lock()
	cancelled := r.cancelled
	r.mu.Unlock()
	if cancelled {
		return r.finish(eventcoord.Event{}, context.Canceled)
	}
	return r.finish(eventcoord.Event{}, fmt.Errorf("wait %q: %w", r.name, ErrRegistrationLost))
}

// stop ends the keeper and waits until it has returned, so that its
// requests never overlap with Wait's or Cancel's.
func (r *registration) stop() {
	r.stopKeeperOne.Do(r.stopKeeper)
	<-r.kept
}

// keep holds the registration's lease until stopped and closes Done when
// the server says it is ready: a long poll of GET /v1/waiters/{id} until
// then, a short one every third of a lease after.
func (r *registration) keep(ctx context.Context, ready bool) {
	defer close(r.kept)
	for ctx.Err() == nil {
		poll := min(DefaultWait, r.maxWait)
		if ready {
			if !sleep(ctx, r.lease/3) {
				return
			}
			poll = 0
		}
		isReady, err := r.peek(ctx, poll)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errNoWaiter):
			r.gone()
			return
		case errors.Is(err, eventcoord.ErrClosed):
			r.markDone() // Wait returns at once, with ErrClosed
			return
		case err != nil:
			if !sleep(ctx, retryPause) {
				return
			}
		case isReady && !ready:
			ready = true
			r.markDone()
		}
	}
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// peek asks the server whether the registration is ready, waiting up to
// poll for it to be.
func (r *registration) peek(ctx context.Context, poll time.Duration) (bool, error) {
	rctx, cancel := requestContext(ctx, poll)
	defer cancel()
	var out struct {
		Data struct {
			Ready bool `json:"ready"`
		} `json:"data"`
	}
	_, err := r.c.do(rctx, http.MethodGet, fmt.Sprintf("%s?timeoutMs=%d", r.url, poll.Milliseconds()), nil, &out)
	if err != nil {
		return false, answerError(ctx, rctx, err)
	}
	return out.Data.Ready, nil
}

// waiterWait is the body of POST /v1/waiters/{id}/wait.
type waiterWait struct {
	TimeoutMs       int64 `json:"timeoutMs"`
	CancelOnTimeout bool  `json:"cancelOnTimeout,omitempty"`
}

// Wait returns the registration's event (see [eventcoord.Registration]).
// Like Client.Wait it waits in requests of up to DefaultWait, and leaves
// the end of the last one before ctx's deadline to the server, which then
// withdraws the registration unless the event came (delivery wins). When
// ctx is cancelled, it asks the server the same with one more request.
func (r *registration) Wait(ctx context.Context) (eventcoord.Event, error) {
	if ev, err, ok := r.result(); ok {
		return ev, err
	}
	r.stop()
	for {
		if ev, err, ok := r.result(); ok { // settled meanwhile (Cancel)
			return ev, err
		}
		if ctx.Err() != nil {
			return r.leave(ctx)
		}
		timeout, last, ok := slice(ctx, min(DefaultWait, r.maxWait))
		if !ok {
			return r.leave(ctx)
		}
		body := waiterWait{TimeoutMs: timeout.Milliseconds(), CancelOnTimeout: last}
		ev, err := r.c.waitFor(ctx, r.url+"/wait", r.name, body, timeout)
		switch {
		case err == nil:
			return r.finish(ev, nil)
		case errors.Is(err, errNoWaiter):
			return r.gone()
		case errors.Is(err, eventcoord.ErrClosed):
			return r.finish(eventcoord.Event{}, fmt.Errorf("wait %q: %w", r.name, err))
		case errors.Is(err, context.DeadlineExceeded) && last: // the server withdrew it at the deadline
			return r.finish(eventcoord.Event{}, fmt.Errorf("wait %q: %w", r.name, context.DeadlineExceeded))
		case errors.Is(err, context.DeadlineExceeded): // the server's ceiling, or ctx has no deadline
		case ctx.Err() != nil:
			return r.leave(ctx)
		default: // the server holds it still, for a later Wait or until its lease passes
			return eventcoord.Event{}, fmt.Errorf("wait %q: %w", r.name, err)
		}
	}
}

// leave withdraws the registration because ctx has ended, unless its
// event has come: then it returns the event, as in-process.
func (r *registration) leave(ctx context.Context) (eventcoord.Event, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	ev, err := r.c.waitFor(rctx, r.url+"/wait", r.name, waiterWait{CancelOnTimeout: true}, 0)
	if err == nil {
		return r.finish(ev, nil)
	}
	// Left (408), gone (404), or the server is out of reach: then its
	// lease withdraws it.
	return r.finish(eventcoord.Event{}, fmt.Errorf("wait %q: %w", r.name, ctx.Err()))
}

// Cancel withdraws the registration (see [eventcoord.Registration]): a
// DELETE, after which the server gives back an event the registration
// holds. If the server cannot be reached, the registration's lease
// withdraws it later.
func (r *registration) Cancel() {
	r.mu.Lock()
	if r.final || r.cancelled {
		r.mu.Unlock()
		return
	}
	r.cancelled = true
	r.mu.Unlock()
	r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	_, err := r.c.do(ctx, http.MethodDelete, r.url, nil, &struct{}{})
	if err == nil || !errors.Is(err, errNoWaiter) {
		r.finish(eventcoord.Event{}, context.Canceled)
	}
	// A 404: a Wait took the event first, and returns it; or the
	// registration was gone, and the next Wait says Canceled.
}
