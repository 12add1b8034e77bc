package eventcoord_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// TestNothingIsLostWithFreshOrAndClear races signalers against plain,
// Fresh and any-of waits and Registrations (some cancelled holding their
// event, so given back), Clear and List, on few names in few shards, then
// checks the S3 ledger with Cleared against what the waiters saw: each
// event returned to a wait of one of its names, an any-of wait consuming
// one event, a Fresh wait never an event signaled before it registered,
// and every List page in order and of its own scope.
func TestNothingIsLostWithFreshOrAndClear(t *testing.T) { // S3, S6, S8 with Fresh, Or, Clear, List
	c := newCoordinator(t, eventcoord.WithShards(2), eventcoord.WithRetention(time.Minute))
	names := []string{"a", "b", "c", "d"}
	other := c.Scope("other") // its names must never show in the default scope's List
	const signalers, signalsEach, waiters = 3, 1500, 6

	var (
		mu       sync.Mutex
		accepted = map[uint64]bool{}
		returned = map[uint64]int{} // seq -> how many waits returned it
		cleared  atomic.Uint64
		floor    atomic.Uint64 // the highest Seq of a Signal that has returned
	)
	record := func(ev eventcoord.Event, on []string, fresh bool, before uint64) {
		assert.Contains(t, on, ev.Name, "an event of a name the wait was not on")
		if fresh {
			assert.Greater(t, ev.Seq, before, "a Fresh wait returned an event signaled before it registered")
		}
		mu.Lock()
		returned[ev.Seq]++
		mu.Unlock()
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				on := []string{names[rand.IntN(len(names))]}
				for range rand.IntN(3) {
					on = append(on, names[rand.IntN(len(names))])
				}
				var opts []eventcoord.WaitOption
				if len(on) > 1 {
					opts = append(opts, eventcoord.Or(on[1:]...))
				}
				fresh := rand.IntN(3) == 0
				if fresh {
					opts = append(opts, eventcoord.Fresh())
				}
				before := floor.Load()
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(500))*time.Microsecond)
				switch rand.IntN(4) {
				case 0, 1:
					if ev, err := c.Wait(ctx, on[0], opts...); err == nil {
						record(ev, on, fresh, before)
					} else {
						assert.ErrorIs(t, err, context.DeadlineExceeded)
					}
				case 2: // register, then cancel at once: gives back what it holds
					w, err := c.Register(on[0], opts...)
					if assert.NoError(t, err) {
						w.Cancel()
					}
				case 3:
					w, err := c.Register(on[0], opts...)
					if !assert.NoError(t, err) {
						break
					}
					if ev, err := w.Wait(ctx); err == nil {
						record(ev, on, fresh, before)
					}
					w.Cancel()
				}
				cancel()
			}
		})
	}
	wg.Go(func() { // Clear now and then
		for {
			select {
			case <-stop:
				return
			default:
			}
			ok, err := c.Clear(names[rand.IntN(len(names))])
			assert.NoError(t, err)
			if ok {
				cleared.Add(1)
			}
		}
	})
	wg.Go(func() { // List page by page, all the while
		for {
			select {
			case <-stop:
				return
			default:
			}
			var seen []string
			opts := eventcoord.ListOptions{Limit: 1 + rand.IntN(3)}
			for {
				l, err := c.List(opts)
				if !assert.NoError(t, err) {
					return
				}
				for _, n := range l.Names {
					assert.Contains(t, names, n.Name, "List shows a name of another scope")
					assert.True(t, n.Waiters > 0 || n.Retained, "List shows a name that holds nothing: %+v", n)
					if n.Retained {
						assert.NotZero(t, n.Seq)
						assert.False(t, n.SignaledAt.IsZero())
					}
					seen = append(seen, n.Name)
				}
				if l.Next == "" {
					break
				}
				opts.After = l.Next
			}
			assert.True(t, slices.IsSorted(seen) && len(slices.Compact(slices.Clone(seen))) == len(seen),
				"the names over a List's pages are not strictly increasing: %q", seen)
		}
	})

	var signalersWG sync.WaitGroup
	for range signalers {
		signalersWG.Go(func() {
			for i := range signalsEach {
				if i%50 == 0 {
					_, err := other.Signal("zz", eventcoord.Data{})
					assert.NoError(t, err)
				}
				r, err := c.Signal(names[rand.IntN(len(names))], eventcoord.Data{})
				if !assert.NoError(t, err) {
					return
				}
				for f := floor.Load(); r.Seq > f && !floor.CompareAndSwap(f, r.Seq); f = floor.Load() {
				}
				mu.Lock()
				accepted[r.Seq] = true
				mu.Unlock()
			}
		})
	}
	signalersWG.Wait()
	close(stop)
	wg.Wait()

	// What is still retained is taken, so that every event is accounted.
	for _, n := range names {
		ev, err := c.Poll(n)
		if errors.Is(err, eventcoord.ErrNoEvent) {
			continue
		}
		require.NoError(t, err)
		returned[ev.Seq]++
	}
	s := c.Stats()
	t.Logf("%+v", s)
	require.Zero(t, s.Waiters)
	require.Equal(t, 1, s.Names, "only the other scope's retained event holds state")
	require.Equal(t, 1, s.Retained)
	requireBalanced(t, s)
	require.Equal(t, cleared.Load(), s.Cleared, "Stats.Cleared counts the Clears that removed an event")
	require.Equal(t, uint64(len(accepted)+signalers*signalsEach/50), s.Signals)
	require.Equal(t, uint64(len(returned)), s.Delivered, "Delivered counts the signals some wait returned")
	for seq := range returned {
		require.True(t, accepted[seq], "returned seq %d was never signaled", seq)
	}
	assert.NotZero(t, s.Cleared, "the test should exercise Clear")
	assert.NotZero(t, s.Replaced, "the test should exercise replacement")
}
