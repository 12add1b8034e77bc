package client_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// TestCancelRacingWaitKeepsTheEvent: a Registration's Wait and Cancel in
// two goroutines race as in-process: the Wait returns the event, or the
// Cancel gives it back — never neither. eventd answered the DELETE
// "cancelled" while its wait had taken the event, and the client dropped
// it, about once in a thousand races (found by an outside tester).
func TestCancelRacingWaitKeepsTheEvent(t *testing.T) { // S3
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	ctx := context.Background()
	for round := range 400 {
		reg, err := c.Register(ctx, "z")
		require.NoError(t, err)
		r, err := c.Signal(ctx, "z", eventcoord.Data{"round": round})
		require.NoError(t, err)
		var wg sync.WaitGroup
		var got eventcoord.Event
		var werr error
		wg.Go(func() { got, werr = reg.Wait(ctx) })
		wg.Go(reg.Cancel)
		wg.Wait()
		back, perr := c.Poll(ctx, "z")
		switch {
		case werr == nil && perr == nil:
			t.Fatalf("round %d: the event was returned by the Wait and given back too", round)
		case werr != nil && perr != nil:
			t.Fatalf("round %d: event %d lost: Wait: %v; Poll: %v", round, r.Seq, werr, perr)
		case werr == nil:
			require.Equal(t, r.Seq, got.Seq)
		default:
			require.Equal(t, r.Seq, back.Seq, "the event given back")
		}
	}
}
