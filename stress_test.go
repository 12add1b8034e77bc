package eventcoord_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/eventcoord/eventcoord"
)

// TestNothingIsLost races signalers against waiters that time out, cancel
// and give events back, with retention short and bounded so that every
// outcome happens, then checks the S3 ledger against what the waiters saw.
func TestNothingIsLost(t *testing.T) { // S3
	c := newCoordinator(t,
		eventcoord.WithShards(2),
		eventcoord.WithRetention(300*time.Microsecond),
		eventcoord.WithMaxRetained(2))
	names := []string{"a", "b", "c", "d", "e"}
	const signalers, signalsEach, waiters = 4, 2000, 8

	var (
		mu       sync.Mutex
		accepted = map[uint64]bool{}
		returned = map[uint64]int{} // seq -> how many waiters returned it
	)
	record := func(seen map[uint64]bool, ev eventcoord.Event) {
		assert.False(t, seen[ev.Seq], "seq %d returned twice to one goroutine", ev.Seq)
		seen[ev.Seq] = true
		mu.Lock()
		returned[ev.Seq]++
		mu.Unlock()
	}

	stop := make(chan struct{})
	var waitersWG sync.WaitGroup
	for range waiters {
		waitersWG.Go(func() {
			seen := map[uint64]bool{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				name := names[rand.IntN(len(names))]
				timeout := time.Duration(rand.IntN(300)) * time.Microsecond
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				switch rand.IntN(3) {
				case 0: // plain Wait with a short timeout
					if ev, err := c.Wait(ctx, name); err == nil {
						record(seen, ev)
					} else {
						assert.ErrorIs(t, err, context.DeadlineExceeded)
					}
				case 1: // register, then give up without waiting: may give back
					w, err := c.Register(name)
					if !assert.NoError(t, err) {
						cancel()
						return
					}
					w.Cancel()
				case 2: // register, wait a little, then cancel
					w, err := c.Register(name)
					if !assert.NoError(t, err) {
						cancel()
						return
					}
					if ev, err := w.Wait(ctx); err == nil {
						record(seen, ev)
					}
					w.Cancel()
				}
				cancel()
			}
		})
	}

	var signalersWG sync.WaitGroup
	for range signalers {
		signalersWG.Go(func() {
			for range signalsEach {
				r, err := c.Signal(names[rand.IntN(len(names))], eventcoord.Data{})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				accepted[r.Seq] = true
				mu.Unlock()
			}
		})
	}
	signalersWG.Wait()
	close(stop)
	waitersWG.Wait()

	// A fast run can end before any retained event's 300 µs are up: one
	// more signal that nobody waits for makes sure expiry is counted too.
	r, err := c.Signal("nobody-waits", eventcoord.Data{})
	require.NoError(t, err)
	accepted[r.Seq] = true
	eventually(t, "every retained event has expired", func() bool { return c.Stats().Retained == 0 })

	s := c.Stats()
	t.Logf("%+v", s)
	require.Equal(t, 0, s.Waiters)
	require.Equal(t, uint64(len(accepted)), s.Signals)
	requireBalanced(t, s)
	require.Equal(t, uint64(len(returned)), s.Delivered, "Delivered counts the signals some waiter returned")
	for seq := range returned {
		require.True(t, accepted[seq], "returned seq %d was never signaled", seq)
	}
	assert.NotZero(t, s.Expired, "the test should exercise expiry")
	assert.NotZero(t, s.Replaced, "the test should exercise replacement")
	assert.NotZero(t, s.Evicted, "the test should exercise the bound")
}

// TestReRegisteringWaitersMissNothing races goroutines that register again
// as soon as they have an event, as fan-out users do, against signals sent
// without waiting for them: those registrations mostly join their shard's
// pending batch without its lock. Every event a goroutine gets is newer
// than its last (S6), and every wake-up is counted (S1, S3).
func TestReRegisteringWaitersMissNothing(t *testing.T) { // S1, S3, S6
	c := newCoordinator(t, eventcoord.WithShards(1))
	const goroutines, signals = 8, 3000
	names := []string{"a", "b"} // two names in one shard: one hot, one not
	var got [goroutines]int
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			name, last := names[g%len(names)], uint64(0)
			for {
				w, err := c.Register(name)
				if err != nil {
					return
				}
				ev, err := w.Wait(context.Background())
				if err != nil {
					assert.ErrorIs(t, err, eventcoord.ErrClosed)
					return
				}
				assert.Greater(t, ev.Seq, last, "goroutine %d got an event older than its last", g)
				last = ev.Seq
				got[g]++
			}
		})
	}
	t.Cleanup(func() { c.Close(); wg.Wait() }) // joined on every path
	var woken int
	for i := range signals {
		woken += signal(t, c, names[i%len(names)], eventcoord.Data{}).Woken
	}
	// Every goroutine has registered again or is about to; take what is
	// retained so the count settles, then compare.
	eventually(t, "every goroutine waits again", func() bool {
		s := c.Stats()
		return s.Waiters == goroutines && s.Retained == 0
	})
	require.NoError(t, c.Close())
	wg.Wait()
	s := c.Stats()
	total := 0
	for _, n := range got {
		total += n
	}
	assert.Equal(t, s.Woken, uint64(total), "every wake-up counted once")
	assert.LessOrEqual(t, uint64(woken), s.Woken, "Receipts count the fanned-out wake-ups")
	assert.Equal(t, 0, s.Waiters)
	requireBalanced(t, s)
}

// TestWaitsEndingAsTheirSignalFires races one goroutine's plain Waits,
// whose deadlines end about when a signal comes, against a signaler: a
// Wait whose context ended as its event came returns the event (delivery
// wins, S3), and every Wait returns only a signaled event, newer than the
// last (S6). A batch of one plain Wait is fired by a token and reused with
// its channel: a token left in the channel would wake the next Wait with
// no event at all.
func TestWaitsEndingAsTheirSignalFires(t *testing.T) { // S3, S6
	c := newCoordinator(t)
	stop := make(chan struct{})
	var g errgroup.Group
	g.Go(func() error {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return nil
			default:
			}
			if _, err := c.Signal("x", eventcoord.Data{"i": i}); err != nil {
				return err
			}
			runtime.Gosched() // with one P, the waits get their turn
		}
	})
	var last uint64
	returned := 0
	for range 20000 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(20))*time.Microsecond)
		ev, err := c.Wait(ctx, "x")
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			continue
		}
		returned++
		require.Greater(t, ev.Seq, last, "an event newer than the last")
		require.Contains(t, ev.Data, "i", "a signaled event")
		last = ev.Seq
	}
	close(stop)
	require.NoError(t, g.Wait())
	t.Logf("%d of 20000 waits returned an event; %+v", returned, c.Stats())
}
