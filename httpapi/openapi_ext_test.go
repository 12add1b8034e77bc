package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// brokenRegistrations is an Events whose registrations are ready at once
// and fail to return their event: the 500 of a waiter's wait.
type brokenRegistrations struct{ eventcoord.Events }

func (brokenRegistrations) Register(context.Context, string, ...eventcoord.WaitOption) (eventcoord.Registration, error) {
	return brokenRegistration{}, nil
}

type brokenRegistration struct{}

func (brokenRegistration) Wait(context.Context) (eventcoord.Event, error) {
	return eventcoord.Event{}, errors.New("disk on fire")
}
func (brokenRegistration) Done() <-chan struct{} { return closed }
func (brokenRegistration) Cancel()               {}

var closed = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// call sends e to base, checks it against the document, fails the test on
// a mismatch, and returns the answer's body.
func (c *openAPIChecker) call(base string, e exchange) []byte {
	c.t.Helper()
	_, body, err := c.do(base, c.router(base), e)
	require.NoError(c.t, err)
	return body
}

// register registers a wait on name with key at base and returns its id.
func (c *openAPIChecker) register(base, key, name string) string {
	c.t.Helper()
	body := c.call(base, exchange{method: "POST", path: "/v1/waiters", key: key, contentType: "application/json",
		body: `{"name": "` + name + `"}`, status: 200, requestValid: true})
	var out struct{ Data struct{ ID string } }
	require.NoError(c.t, json.Unmarshal(body, &out))
	require.NotEmpty(c.t, out.Data.ID)
	return out.Data.ID
}

// background sends e to base on a goroutine, checking it against the
// document; the returned func waits for it and fails the test if it did
// not answer as e says.
func (c *openAPIChecker) background(base string, e exchange) func() {
	router := c.router(base)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _, err := c.do(base, router, e)
		errc <- err
	})
	return func() {
		c.t.Helper()
		wg.Wait()
		require.NoError(c.t, <-errc)
	}
}

// runEventdRoutes provokes every status of eventd's own routes and of
// eventd's wait fields, under both prefixes.
func (c *openAPIChecker) runEventdRoutes() {
	t := c.t
	const js = "application/json"
	srv := testserver.Start(t, httpapi.WithKeys([]string{"k1", "k2"}), httpapi.WithMaxBody(256))
	big := `{"name": "` + strings.Repeat("n", 300) + `"}`
	for _, p := range []string{"", "/api"} {
		c.run(srv.URL,
			// Waits with eventd's fields.
			exchange{method: "POST", path: p + "/v1/events/a", contentType: js, body: `{"data": {"n": 1}}`, status: 200, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/x/wait", contentType: js, body: `{"timeoutMs": 1000, "anyOf": ["a", "b"]}`, status: 200, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/a", contentType: js, body: `{"data": {}}`, status: 200, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/a/wait", contentType: js, body: `{"timeoutMs": 10, "fresh": true, "anyOf": null}`, status: 408, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/a/wait", contentType: js, body: `{"timeoutMs": 0, "fresh": false}`, status: 200, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/a/wait", contentType: js, body: `{"anyOf": "b"}`, status: 400},
			exchange{method: "POST", path: p + "/v1/events/a/wait", contentType: js, body: `{"anyOf": [""]}`, status: 400, requestValid: false},
			exchange{method: "POST", path: p + "/v1/events/a/wait", contentType: js, body: `{"fresh": "yes"}`, status: 400},
			exchange{method: "POST", path: p + "/v1/events/a/wait", contentType: js, status: 400, requestValid: true,
				body: `{"anyOf": ["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16"]}`},

			// Clear.
			exchange{method: "POST", path: p + "/v1/events/c", contentType: js, body: `{"data": {}}`, status: 200, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/events/c", status: 200, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/events/c", status: 200, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/events/%FF", status: 400, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/events/c", noKey: true, status: 401},
			exchange{method: "DELETE", path: p + "/v1/events/c", key: "wrong", status: 401, requestValid: true},

			// List.
			exchange{method: "POST", path: p + "/v1/events/l", contentType: js, body: `{"data": {"v": "x"}}`, status: 200, requestValid: true},
			exchange{method: "GET", path: p + "/v1/events", status: 200, requestValid: true},
			exchange{method: "HEAD", path: p + "/v1/events", status: 200, requestValid: true},
			exchange{method: "GET", path: p + "/v1/events?after=a&limit=1", status: 200, requestValid: true},
			exchange{method: "GET", path: p + "/v1/events?limit=5000", status: 200, requestValid: true},
			exchange{method: "GET", path: p + "/v1/events?limit=-1", status: 400},
			exchange{method: "GET", path: p + "/v1/events?limit=1.5", status: 400},
			exchange{method: "GET", path: p + "/v1/events?limit=1&limit=2", status: 400, requestValid: true},
			exchange{method: "GET", path: p + "/v1/events?after=%FF", status: 400, requestValid: true},
			exchange{method: "GET", path: p + "/v1/events?after=%zz", status: 400, requestValid: true}, // a query the document cannot refuse
			exchange{method: "GET", path: p + "/v1/events", noKey: true, status: 401},
			exchange{method: "PUT", path: p + "/v1/events", contentType: js, body: `{}`, status: 405},
			exchange{method: "PUT", path: p + "/v1/events/l", contentType: js, body: `{}`, status: 405},

			// Registrations: refused ones.
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{"name": ""}`, status: 400},
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{}`, status: 400},
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{"name": "x", "leaseMs": 0}`, status: 400},
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{"name": "x", "lease": 5}`, status: 400},
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{"name": "x\u0000", "anyOf": ["y", ""]}`, status: 400},
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{"name": "x"}`, noKey: true, status: 401},
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: big, status: 413, requestValid: true},
			exchange{method: "POST", path: p + "/v1/waiters", contentType: "text/plain", body: `{"name": "x"}`, status: 415},
			exchange{method: "PUT", path: p + "/v1/waiters", status: 405},
			exchange{method: "GET", path: p + "/v1/waiters/nope", status: 404, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/waiters/nope", status: 404, requestValid: true},
			exchange{method: "POST", path: p + "/v1/waiters/nope/wait", status: 404, requestValid: true},
			exchange{method: "GET", path: p + "/v1/waiters/nope", noKey: true, status: 401},
			exchange{method: "DELETE", path: p + "/v1/waiters/nope", noKey: true, status: 401},
			exchange{method: "POST", path: p + "/v1/waiters/nope/wait", noKey: true, status: 401},
			exchange{method: "PUT", path: p + "/v1/waiters/nope", status: 405},
			exchange{method: "GET", path: p + "/v1/waiters/nope/wait", status: 405},
		)

		// A registration, its state, its event.
		id := c.register(srv.URL, "", "r")
		w := p + "/v1/waiters/" + id
		c.run(srv.URL,
			exchange{method: "GET", path: w, status: 200, requestValid: true},
			exchange{method: "HEAD", path: w, status: 200, requestValid: true},
			exchange{method: "GET", path: w + "?timeoutMs=10", status: 200, requestValid: true},
			exchange{method: "GET", path: w + "?timeoutMs=-1", status: 400},
			exchange{method: "GET", path: w + "?timeoutMs=1e3", status: 400},
			exchange{method: "GET", path: w, key: "k2", status: 404, requestValid: true}, // another key's id
			exchange{method: "POST", path: w + "/wait", key: "k2", status: 404, requestValid: true},
			exchange{method: "DELETE", path: w, key: "k2", status: 404, requestValid: true},
			exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"timeoutMs": 10}`, status: 408, requestValid: true},
			exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"timeout": 10}`, status: 400},
			exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"timeoutMs": -1}`, status: 400},
			exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"cancelOnTimeout": 1}`, status: 400},
			exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"timeoutMs": 1` + strings.Repeat(" ", 300) + `}`, status: 413, requestValid: true},
			exchange{method: "POST", path: w + "/wait", contentType: "text/plain", body: `{}`, status: 415},
			exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"timeoutMs": 600000}`, halfClose: true, status: httpapi.StatusClientClosed, requestValid: true},
			exchange{method: "GET", path: w + "?timeoutMs=600000", halfClose: true, status: httpapi.StatusClientClosed, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/r", contentType: js, body: `{"data": {"ok": true}}`, status: 200, requestValid: true},
			exchange{method: "GET", path: w + "?timeoutMs=1000", status: 200, requestValid: true},
			exchange{method: "POST", path: w + "/wait", status: 200, requestValid: true},
			exchange{method: "POST", path: w + "/wait", status: 404, requestValid: true}, // taken
		)

		// Cancel, and a wait that asked to be cancelled at its timeout.
		id = c.register(srv.URL, "", "r")
		c.run(srv.URL,
			exchange{method: "DELETE", path: p + "/v1/waiters/" + id, status: 200, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/waiters/" + id, status: 404, requestValid: true},
		)
		id = c.register(srv.URL, "", "r")
		c.run(srv.URL,
			exchange{method: "POST", path: p + "/v1/waiters/" + id + "/wait", contentType: js, body: `{"timeoutMs": 10, "cancelOnTimeout": true}`, status: 408, requestValid: true},
			exchange{method: "GET", path: p + "/v1/waiters/" + id, status: 404, requestValid: true},
		)

		// Too many requests on one registration: 429 once four wait.
		// A name of its own: the first prefix's Cancel gave its event back.
		busy := "busy" + strings.TrimPrefix(p, "/")
		id = c.register(srv.URL, "", busy)
		w = p + "/v1/waiters/" + id
		var joins []func()
		for range 4 {
			joins = append(joins, c.background(srv.URL, exchange{method: "GET", path: w + "?timeoutMs=600000", status: 200, requestValid: true}))
		}
		// Not by asking over HTTP: that request would take a place, and
		// one of the four, coming just then, would be refused.
		testserver.Await(t, "four requests on the registration", func() bool { return httpapi.RequestsOn(srv.Handler, w) == 4 })
		c.run(srv.URL,
			exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"timeoutMs": 0}`, status: 429, requestValid: true},
			exchange{method: "GET", path: w, status: 429, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/" + busy, contentType: js, body: `{"data": {}}`, status: 200, requestValid: true},
		)
		for _, join := range joins {
			join()
		}
		c.run(srv.URL, exchange{method: "DELETE", path: w, status: 200, requestValid: true})
	}

	// Per-key bounds: a registration counts as a wait; clears and lists
	// share the signals' rate.
	limited := testserver.Start(t, httpapi.WithMaxWaitsPerKey(1), httpapi.WithSignalRatePerKey(0.001))
	for _, p := range []string{"", "/api"} {
		key := "limited" + p
		id := c.register(limited.URL, key, "x")
		c.run(limited.URL,
			exchange{method: "POST", path: p + "/v1/waiters", key: key, contentType: js, body: `{"name": "y"}`, status: 429, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/events/x", key: key, status: 200, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/events/x", key: key, status: 429, requestValid: true},
			exchange{method: "GET", path: p + "/v1/events", key: key, status: 429, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/waiters/" + id, key: key, status: 200, requestValid: true},
			exchange{method: "POST", path: p + "/v1/waiters", key: key, contentType: js, body: `{"name": "y", "leaseMs": 60000}`, status: 200, requestValid: true},
		)
	}

	// Shutting down: pending requests on registrations and new ones get
	// 503, and so does a clear of a closed Coordinator.
	for _, p := range []string{"", "/api"} {
		draining := testserver.Start(t)
		w := p + "/v1/waiters/" + c.register(draining.URL, "", "x")
		waitDone := c.background(draining.URL, exchange{method: "POST", path: w + "/wait", contentType: js, body: `{"timeoutMs": 600000}`, status: 503, requestValid: true})
		w2 := p + "/v1/waiters/" + c.register(draining.URL, "", "y")
		peekDone := c.background(draining.URL, exchange{method: "GET", path: w2 + "?timeoutMs=600000", status: 503, requestValid: true})
		draining.Handler.Drain() // the requests above get 503 whether they came before or not
		waitDone()
		peekDone()
		c.run(draining.URL,
			exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{"name": "z"}`, status: 503, requestValid: true},
			exchange{method: "DELETE", path: w, status: 503, requestValid: true},
		)

		closedSrv := testserver.Start(t)
		w = p + "/v1/waiters/" + c.register(closedSrv.URL, "", "x")
		closedSrv.Coord.Close()
		c.run(closedSrv.URL,
			exchange{method: "POST", path: w + "/wait", status: 503, requestValid: true},
			exchange{method: "DELETE", path: p + "/v1/events/x", status: 503, requestValid: true},
		)
	}

	// A backend whose registration fails to return its event: 500.
	coord := eventcoord.New()
	defer coord.Close()
	broken := httptest.NewServer(httpapi.New(func(scope string) eventcoord.Events {
		return brokenRegistrations{coord.Scope(scope).Events()}
	}))
	defer broken.Close()
	for _, p := range []string{"", "/api"} {
		id := c.register(broken.URL, "", "x")
		c.run(broken.URL, exchange{method: "POST", path: fmt.Sprintf("%s/v1/waiters/%s/wait", p, id), status: 500, requestValid: true})
	}
}
