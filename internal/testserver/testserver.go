// Package testserver starts the API on real HTTP over loopback for tests.
package testserver

import (
	"net/http/httptest"
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
}

// Start serves a new Coordinator through httpapi with opts on a loopback
// port, and stops both when the test ends.
func Start(t testing.TB, opts ...httpapi.Option) *Server {
	t.Helper()
	coord := eventcoord.New()
	opts = append([]httpapi.Option{httpapi.WithStats(coord.Stats)}, opts...)
	h := httpapi.New(func(scope string) eventcoord.Events { return coord.Scope(scope).Events() }, opts...)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(h.Drain)
	srv.Config.DisableGeneralOptionsHandler = true // OPTIONS * too gets the handler's JSON answer
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		coord.Close()
	})
	return &Server{Server: srv, Coord: coord, Handler: h}
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
