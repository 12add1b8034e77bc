// Package testserver starts the API on real HTTP over loopback for tests,
// wired as eventd wires it. Package eventdtest is its exported form for
// users; this package also hands the repository's own tests the Handler
// and Coordinator behind the server.
package testserver

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
)

// Server is a running API server and the Coordinator behind it.
type Server struct {
	*httptest.Server
	Coord   *eventcoord.Coordinator
	Handler *httpapi.Handler

	closeOnce sync.Once
}

// New serves coord through httpapi with opts on a loopback port, as eventd
// serves it: every scope is coord's scope of the same ID, /metrics shows
// coord's Stats, the handler drains on shutdown, and OPTIONS * gets the
// handler's JSON answer. The Server owns coord: Close closes it.
func New(coord *eventcoord.Coordinator, opts ...httpapi.Option) *Server {
	opts = append([]httpapi.Option{httpapi.WithStats(coord.Stats)}, opts...)
	h := httpapi.New(func(scope string) eventcoord.Events { return coord.Scope(scope).Events() }, opts...)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(h.Drain)
	srv.Config.DisableGeneralOptionsHandler = true // OPTIONS * too gets the handler's JSON answer
	srv.Start()
	return &Server{Server: srv, Coord: coord, Handler: h}
}

// Start serves a new Coordinator through httpapi with opts on a loopback
// port (see [New]), and closes the Server when the test ends.
func Start(t testing.TB, opts ...httpapi.Option) *Server {
	t.Helper()
	s := New(eventcoord.New(), opts...)
	t.Cleanup(s.Close)
	return s
}

// Close answers pending waits with 503 (as eventd's shutdown does, instead
// of waiting for them to time out), stops the server once its requests
// are answered, closes the client connections of Client, then closes the
// Coordinator. It is idempotent and safe for concurrent use.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.Handler.Drain()
		s.Server.Close()
		s.Coord.Close()
	})
}

// AwaitWaiters polls until n waiters are blocked in the Coordinator (see
// [Await]).
func (s *Server) AwaitWaiters(t testing.TB, n int) {
	t.Helper()
	if !poll(t, func() bool { return s.Coord.Stats().Waiters == n }) {
		t.Fatalf("waiters = %d; want %d", s.Coord.Stats().Waiters, n)
	}
}

// Await polls cond until it holds, and fails the test (t.Fatalf, so call
// it from the test's goroutine) if it still does not when the test's
// deadline is near. It assumes nothing about how fast the machine is: the
// only bound is the one go test -timeout sets.
func Await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !poll(t, cond) {
		t.Fatalf("gave up waiting until %s", what)
	}
}

// poll reports whether cond held before the test's deadline came near.
func poll(t testing.TB, cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Minute) // without -timeout
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if end, ok := d.Deadline(); ok {
			deadline = end.Add(-10 * time.Second) // room to report the failure and clean up
		}
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}
