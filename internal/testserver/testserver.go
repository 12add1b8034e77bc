// Package testserver starts the API on real HTTP over loopback for tests.
package testserver

import (
	"context"
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
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		coord.Close()
	})
	return &Server{Server: srv, Coord: coord, Handler: h}
}

// AwaitWaiters polls until n waiters are blocked in the Coordinator, failing
// the test after a generous deadline.
func (s *Server) AwaitWaiters(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s.Coord.Stats().Waiters != n {
		select {
		case <-ctx.Done():
			t.Fatalf("waiters = %d; want %d", s.Coord.Stats().Waiters, n)
		case <-time.After(time.Millisecond):
		}
	}
}
