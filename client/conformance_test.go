package client_test

import (
	"sync"
	"testing"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/eventcoordtest"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// TestConformance runs the shared Events suite against eventd's API over
// real loopback HTTP (S11): one fresh server per part, one API key per
// scope, and a second client per key (its own connections) as the peer.
// Close closes the Coordinator behind the server: eventd then answers
// 503 "Server is shutting down" with Eventcoord-Error: closed, which the
// client reports as eventcoord.ErrClosed (and ErrUnavailable).
func TestConformance(t *testing.T) {
	eventcoordtest.TestEvents(t, func(t *testing.T) eventcoordtest.Factory {
		srv := testserver.Start(t)
		handle := func() func(id string) eventcoord.Events {
			var mu sync.Mutex
			clients := map[string]eventcoord.Events{}
			return func(id string) eventcoord.Events {
				mu.Lock()
				defer mu.Unlock()
				if e, ok := clients[id]; ok {
					return e
				}
				e := newClient(t, srv.URL, id)
				clients[id] = e
				return e
			}
		}
		return eventcoordtest.Factory{
			Scope:   handle(),
			Peer:    handle(),
			Waiters: func() int { return srv.Coord.Stats().Waiters },
			Stats:   srv.Coord.Stats,
			Close:   srv.Coord.Close,
		}
	})
}
