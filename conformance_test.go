package eventcoord_test

import (
	"testing"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/eventcoordtest"
)

// TestConformance runs the shared Events suite against the in-process
// Coordinator (S11): one fresh Coordinator per part, scopes as Scope.
func TestConformance(t *testing.T) {
	eventcoordtest.TestEvents(t, func(t *testing.T) eventcoordtest.Factory {
		c := eventcoord.New()
		t.Cleanup(func() { c.Close() })
		return eventcoordtest.Factory{
			Scope:   func(id string) eventcoord.Events { return c.Scope(id).Events() },
			Waiters: func() int { return c.Stats().Waiters },
			Stats:   c.Stats,
			Close:   c.Close,
		}
	})
}
