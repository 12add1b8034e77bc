package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/eventcoord/eventcoord"
)

// Register before acting, over HTTP (see the package doc): the server
// holds the eventcoord.Registration, because only it can give back an
// event the client never took (S3); leases bound what a vanished client
// leaves behind.

// registered is the answer to POST /v1/waiters.
type registered struct {
	ID        string `json:"id"`
	Ready     bool   `json:"ready"`     // an event (or the server's close) is there: a wait returns at once
	LeaseMs   int64  `json:"leaseMs"`   // the lease granted
	MaxWaitMs int64  `json:"maxWaitMs"` // the server's ceiling on a timeoutMs
}

// waiterState is the answer to GET /v1/waiters/{id}.
type waiterState struct {
	ID    string `json:"id"`
	Ready bool   `json:"ready"`
}

// register serves POST /v1/waiters: body {"name", "anyOf", "fresh",
// "leaseMs"}.
func (h *Handler) register(w http.ResponseWriter, r *http.Request, scope string, events eventcoord.Events) {
	release, ok := h.limits.wait(w, r, scope)
	if !ok {
		return
	}
	held := true // the slot, until the registration holds it
	defer func() {
		if held {
			release()
		}
	}()
	body, apiErr := readBody(w, r, h.maxBody, h.bodyTimeout)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	req, apiErr := decodeRegister(body, DefaultLease, MaxLease)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	if h.drain.Err() != nil {
		writeError(w, r, shuttingDown())
		return
	}
	reg, err := events.Register(r.Context(), req.name, req.wait.options()...)
	if err != nil {
		writeError(w, r, backendError(err, "Failed to register the wait"))
		return
	}
	rw := h.waiters.add(scope, reg, req.lease, release)
	if rw == nil { // Drain came meanwhile
		reg.Cancel()
		writeError(w, r, shuttingDown())
		return
	}
	held = false
	writeJSON(w, http.StatusOK, map[string]registered{"data": {
		ID: rw.id, Ready: ready(reg), LeaseMs: req.lease.Milliseconds(), MaxWaitMs: h.maxWait.Milliseconds(),
	}})
}

// ready reports whether reg's Wait would return at once.
func ready(reg eventcoord.Registration) bool {
	select {
	case <-reg.Done():
		return true
	default:
		return false
	}
}

// acquireWaiter returns the registration of the request's {id} in scope,
// held for the request until the caller calls h.waiters.done, or answers
// 404, 429 or (after Drain) 503 and returns nil.
func (h *Handler) acquireWaiter(w http.ResponseWriter, r *http.Request, scope string) *remoteWaiter {
	if h.drain.Err() != nil { // Drain ended every registration
		writeError(w, r, shuttingDown())
		return nil
	}
	rw, busy, ok := h.waiters.acquire(scope, r.PathValue("id"))
	switch {
	case !ok:
		writeError(w, r, noWaiter())
	case busy:
		h.limits.refuse(w, r, refusedWaiter, 0, "Too many requests in progress on this waiter (the limit is 4)")
	}
	return rw
}

// peek serves GET /v1/waiters/{id}?timeoutMs=N: whether the registration
// is ready, after waiting up to N ms (default 0) for it to be. The client
// implements Registration.Done with it, and it holds the lease meanwhile.
func (h *Handler) peek(w http.ResponseWriter, r *http.Request, scope string, _ eventcoord.Events) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, r, errorf(http.StatusBadRequest, "The query string is not valid: "+err.Error()))
		return
	}
	timeout, apiErr := parseQueryTimeout(q, h.maxWait)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	rw := h.acquireWaiter(w, r, scope)
	if rw == nil {
		return
	}
	defer h.waiters.done(rw)
	ws := h.waitContext(r, timeout, rw.gone)
	defer ws.end()
	ctx := ws.ctx
	select {
	case <-rw.reg.Done():
	case <-ctx.Done():
	}
	switch isReady, cause := ready(rw.reg), context.Cause(ctx); {
	case errors.Is(cause, errDraining) || h.drain.Err() != nil:
		writeError(w, r, shuttingDown())
	case rw.gone.Err() != nil:
		writeError(w, r, noWaiter())
	case isReady || errors.Is(cause, errWaitTimeout):
		writeJSON(w, http.StatusOK, map[string]waiterState{"data": {ID: rw.id, Ready: isReady}})
	default:
		writeError(w, r, errorf(StatusClientClosed, msgClientClosed))
	}
}

// waitOn serves POST /v1/waiters/{id}/wait, body {"timeoutMs",
// "cancelOnTimeout"}: the registration's event, which ends it. A wait that
// times out leaves the registration in place for another wait, unless it
// asked cancelOnTimeout: then it ends as Registration.Wait does when its
// context ends, atomically with the event's arrival (an event that came
// is returned). A timeoutMs the server clamped to its ceiling always keeps
// the registration: the client asked for more time than it got.
func (h *Handler) waitOn(w http.ResponseWriter, r *http.Request, scope string, _ eventcoord.Events) {
	body, apiErr := readBody(w, r, h.maxBody, h.bodyTimeout)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	req, apiErr := decodeWaiterWait(body, DefaultWait, h.maxWait)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	rw := h.acquireWaiter(w, r, scope)
	if rw == nil {
		return
	}
	defer h.waiters.done(rw)
	ws := h.waitContext(r, req.timeout, rw.gone)
	defer ws.end()
	ctx := ws.ctx
	ev, err := waitReady(ctx, rw.reg)
	if err != nil && req.cancelOnTimeout && !req.clamped && h.drain.Err() == nil && rw.gone.Err() == nil {
		// Its time is up: it leaves as Registration.Wait does when its
		// context ends, atomically with the event's arrival (an event
		// that came is returned), once out of the registry, so that no
		// request on it takes the leaving for an event (a GET answered
		// ready; found by an outside tester).
		var got error
		if h.waiters.withdraw(rw, endLeft, func() bool { ev, got = rw.reg.Wait(alreadyDone); return got == nil }) {
			if got != nil { // it left: 408, or 499 for a client gone
				outcome, answer := h.waitEnded(r, ctx, err, "Failed to wait for event")
				h.metrics.waits.WithLabelValues(outcome).Inc()
				writeError(w, r, answer)
				return
			}
			err = nil
		}
	}
	switch left := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded); {
	case err == nil:
		h.waiters.remove(rw, endTaken) // counted already if it came as it left
		h.metrics.waits.WithLabelValues("event").Inc()
		writeEvent(w, ev, true)
		return
	case errors.Is(err, eventcoord.ErrClosed):
		h.waiters.remove(rw, endShutdown)
	case h.drain.Err() != nil: // Drain ended it: 503 below
	case rw.gone.Err() != nil || (left && ctx.Err() == nil):
		// It ended (DELETE, its lease, another wait's leaving) while
		// this wait was on, or its Wait says it had left.
		writeError(w, r, noWaiter())
		return
	}
	outcome, answer := h.waitEnded(r, ctx, err, "Failed to wait for event")
	h.metrics.waits.WithLabelValues(outcome).Inc()
	writeError(w, r, answer)
}

// waitReady waits until reg is ready or ctx ends, and returns reg's event
// if it is ready (delivery wins), else ctx's error; reg stays registered.
func waitReady(ctx context.Context, reg eventcoord.Registration) (eventcoord.Event, error) {
	select {
	case <-reg.Done():
	case <-ctx.Done():
		if !ready(reg) {
			return eventcoord.Event{}, ctx.Err()
		}
	}
	return reg.Wait(context.WithoutCancel(ctx)) // at once: Done is closed
}

// cancel serves DELETE /v1/waiters/{id}: the registration ends, and gives
// back an event it holds and has not returned (S3).
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, scope string, _ eventcoord.Events) {
	if h.drain.Err() != nil { // Drain ended every registration
		writeError(w, r, shuttingDown())
		return
	}
	rw := h.waiters.lookup(scope, r.PathValue("id"))
	if rw == nil {
		writeError(w, r, noWaiter())
		return
	}
	if taken, ok := h.waiters.cancel(rw); !ok || taken {
		writeError(w, r, noWaiter())
		return
	}
	writeJSON(w, http.StatusOK, map[string]map[string]string{"data": {"status": "cancelled"}})
}
