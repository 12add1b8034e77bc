package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/eventcoordtest"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/redistest"
	"github.com/eventcoord/eventcoord/internal/testserver"
	"github.com/eventcoord/eventcoord/redisbus"
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
		return eventcoordtest.Factory{
			Scope:   clients(t, srv.URL),
			Peer:    clients(t, srv.URL),
			Waiters: func() int { return srv.Coord.Stats().Waiters },
			Stats:   srv.Coord.Stats,
			Close:   srv.Coord.Close,
		}
	})
}

// TestConformanceOverRedis runs the suite against eventd's API in Redis
// mode: the handler over a redisbus.Bus on a real redis-server, a fresh
// key prefix per part, so that registrations over HTTP are checked on
// that backend too. Close closes the Bus. Waiters are counted in Redis as
// redisbus's own conformance test counts them: the registrations in the
// hashes P:w:K a signal would find, one per name of a wait.
func TestConformanceOverRedis(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client()
	var parts int
	eventcoordtest.TestEvents(t, func(t *testing.T) eventcoordtest.Factory {
		parts++
		prefix := fmt.Sprintf("client%d", parts)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		bus, err := redisbus.New(ctx, rs.Client(), redisbus.WithPrefix(prefix))
		require.NoError(t, err)
		h := httpapi.New(bus.Scope)
		srv := httptest.NewUnstartedServer(h)
		srv.Config.RegisterOnShutdown(h.Drain)
		srv.Start()
		t.Cleanup(func() {
			srv.Close()
			h.Drain()
			bus.Close()
		})
		return eventcoordtest.Factory{
			Scope:   clients(t, srv.URL),
			Peer:    clients(t, srv.URL),
			Waiters: func() int { return redistest.Registrations(rdb, prefix) },
			Stats:   bus.Stats,
			Close:   bus.Close,
		}
	})
}

// clients returns the Factory's Scope (or Peer) of the server at base: one
// client per scope id, used as the id's API key.
func clients(t *testing.T, base string) func(id string) eventcoord.Events {
	var mu sync.Mutex
	byID := map[string]eventcoord.Events{}
	return func(id string) eventcoord.Events {
		mu.Lock()
		defer mu.Unlock()
		if e, ok := byID[id]; ok {
			return e
		}
		e := newClient(t, base, id)
		byID[id] = e
		return e
	}
}
