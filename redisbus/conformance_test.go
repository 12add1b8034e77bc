package redisbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord/eventcoordtest"
	"github.com/eventcoord/eventcoord/internal/redistest"
	"github.com/eventcoord/eventcoord/redisbus"
)

// TestConformance runs the shared Events suite against redisbus on a real
// redis-server (S11): one server for the suite, a fresh key prefix per
// part, and two Buses on it (as two processes would be), the second the
// peer. Waiters are counted in Redis, from the registrations (P:w:K) a
// signal would find.
func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	var parts int
	eventcoordtest.TestEvents(t, func(t *testing.T) eventcoordtest.Factory {
		parts++
		prefix := fmt.Sprintf("conformance%d", parts)
		open := func() *redisbus.Bus {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := redisbus.New(ctx, srv.Client(), redisbus.WithPrefix(prefix))
			require.NoError(t, err)
			t.Cleanup(func() { b.Close() })
			return b
		}
		bus, peer := open(), open()
		return eventcoordtest.Factory{
			Scope:   bus.Scope,
			Peer:    peer.Scope,
			Waiters: func() int { return redistest.Registrations(rdb, prefix) },
			Stats:   bus.Stats,
			Close:   bus.Close,
		}
	})
}
