package eventcoord_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/eventcoord/eventcoord"
)

// retained reports whether name holds a retained event in s, consuming it.
func retained(t testing.TB, s interface {
	Register(string, ...eventcoord.WaitOption) (*eventcoord.Waiter, error)
}, name string) bool {
	t.Helper()
	w := register(t, s, name)
	defer w.Cancel()
	if !ready(w) {
		return false
	}
	_, err := w.Wait(context.Background())
	require.NoError(t, err)
	return true
}

func TestFloodNeverEvictsAnotherScope(t *testing.T) { // S10, with the default bounds
	c := newCoordinator(t)
	a, b := c.Scope("a"), c.Scope("b")
	r := signal(t, b, "mine", eventcoord.Data{"v": "b's"})
	require.True(t, r.Retained)
	const flood = 12_000
	for i := range flood {
		signal(t, a, fmt.Sprint("n", i), eventcoord.Data{})
	}
	s := c.Stats()
	assert.Equal(t, eventcoord.DefaultMaxRetained, s.Retained)
	assert.Equal(t, uint64(flood+1-eventcoord.DefaultMaxRetained), s.Evicted, "a paid for its own flood")
	assert.Equal(t, s.Evicted, s.EvictedBy.Count)
	requireBalanced(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := b.Wait(ctx, "mine")
	require.NoError(t, err, `b.Wait(ctx, "mine")`)
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, eventcoord.Data{"v": "b's"}, ev.Data)
	assert.False(t, retained(t, a, "n0"), "a's oldest events were evicted")
	assert.True(t, retained(t, a, fmt.Sprint("n", flood-1)), "a's newest event is retained")
}

func TestByteBoundHoldsUnderMiBEvents(t *testing.T) { // S10, with the default bounds
	c := newCoordinator(t)
	mib := strings.Repeat("x", 1<<20-len(`{"blob":""}`)) // shared: the test itself stays small
	other := signal(t, c.Scope("other"), "small", eventcoord.Data{"v": 1})
	for i := range 1000 {
		r := signal(t, c.Scope("big"), fmt.Sprint("e", i), eventcoord.Data{"blob": mib})
		require.True(t, r.Retained, "an event within the bound is retained")
		s := c.Stats()
		require.LessOrEqual(t, s.RetainedBytes, eventcoord.DefaultMaxRetainedBytes, "after %d events", i+1)
	}
	// 63 events of 1 MiB and the small one: a 64th would go over 64 MiB.
	s := c.Stats()
	assert.Equal(t, 64, s.Retained)
	assert.Equal(t, int64(63<<20+len(`{"v":1}`)), s.RetainedBytes, "an event counts the length of its JSON encoding")
	assert.Equal(t, eventcoord.Evictions{Bytes: 1000 - 63}, s.EvictedBy)
	requireBalanced(t, s)
	ev, err := c.Scope("other").Wait(context.Background(), "small")
	require.NoError(t, err)
	assert.Equal(t, other.Seq, ev.Seq, "the flood of big events left the other scope's event alone")
}

func TestOverallBoundEvictsFromTheLargestScope(t *testing.T) { // S10 policy
	c := newCoordinator(t, eventcoord.WithMaxRetained(10))
	big, small, flood := c.Scope("big"), c.Scope("small"), c.Scope("flood")
	for i := range 6 {
		signal(t, big, fmt.Sprint("b", i), eventcoord.Data{})
	}
	for i := range 3 {
		signal(t, small, fmt.Sprint("s", i), eventcoord.Data{})
	}
	require.True(t, signal(t, flood, "f0", eventcoord.Data{}).Retained) // 10: full
	// flood holds 2, big 6: big pays, its oldest first.
	require.True(t, signal(t, flood, "f1", eventcoord.Data{}).Retained)
	assert.Equal(t, uint64(1), c.Stats().EvictedBy.Count)
	assert.False(t, retained(t, big, "b0"), "the largest scope's oldest event was evicted")
	// flood 3, big 5: big pays again. Then flood 4, big 4: a tie, and
	// the scope that went over pays; from then on flood pays for itself.
	for i := 2; i < 100; i++ {
		signal(t, flood, fmt.Sprint("f", i), eventcoord.Data{})
	}
	s := c.Stats()
	assert.Equal(t, 10, s.Retained)
	assert.Equal(t, eventcoord.Evictions{Count: 99}, s.EvictedBy)
	requireBalanced(t, s)
	assert.False(t, retained(t, big, "b1"))
	for i := 2; i < 6; i++ {
		assert.True(t, retained(t, big, fmt.Sprint("b", i)), "big kept b%d", i)
	}
	for i := range 3 {
		assert.True(t, retained(t, small, fmt.Sprint("s", i)), "small kept s%d", i)
	}
	for i := range 97 {
		assert.False(t, retained(t, flood, fmt.Sprint("f", i)), "flood paid with f%d", i)
	}
	for i := 97; i < 100; i++ {
		assert.True(t, retained(t, flood, fmt.Sprint("f", i)), "flood kept f%d", i)
	}
}

func TestOnATieTheScopeThatWentOverPays(t *testing.T) { // S10 policy
	c := newCoordinator(t, eventcoord.WithMaxRetained(3))
	a, b := c.Scope("a"), c.Scope("b")
	signal(t, b, "b0", eventcoord.Data{}) // the oldest of all
	signal(t, a, "a0", eventcoord.Data{})
	signal(t, b, "b1", eventcoord.Data{})
	signal(t, a, "a1", eventcoord.Data{}) // a 2, b 2: a went over, a pays
	assert.Equal(t, eventcoord.Evictions{Count: 1}, c.Stats().EvictedBy)
	assert.False(t, retained(t, a, "a0"))
	assert.True(t, retained(t, a, "a1"))
	assert.True(t, retained(t, b, "b0"), "b is untouched, although it holds the oldest event")
	assert.True(t, retained(t, b, "b1"))
	requireBalanced(t, c.Stats())
}

func TestPerScopeCountBound(t *testing.T) { // S10
	c := newCoordinator(t, eventcoord.WithMaxRetainedPerScope(2))
	a, b := c.Scope("a"), c.Scope("b")
	signal(t, b, "x", eventcoord.Data{})
	signal(t, a, "x", eventcoord.Data{})
	signal(t, a, "y", eventcoord.Data{})
	signal(t, a, "z", eventcoord.Data{})
	s := c.Stats()
	assert.Equal(t, 3, s.Retained)
	assert.Equal(t, eventcoord.Evictions{ScopeCount: 1}, s.EvictedBy)
	requireBalanced(t, s)
	assert.False(t, retained(t, a, "x"), "a's oldest was evicted")
	assert.True(t, retained(t, a, "y"))
	assert.True(t, retained(t, a, "z"))
	assert.True(t, retained(t, b, "x"), "b is untouched")
}

func TestPerScopeByteBound(t *testing.T) { // S10
	const event = `{"v":"0123456789"}` // 18 bytes of JSON
	c := newCoordinator(t, eventcoord.WithMaxRetainedBytesPerScope(3*int64(len(event))))
	a, b := c.Scope("a"), c.Scope("b")
	data := eventcoord.Data{"v": "0123456789"}
	for i := range 3 {
		signal(t, b, fmt.Sprint("n", i), data)
	}
	for i := range 5 {
		signal(t, a, fmt.Sprint("n", i), data)
		require.LessOrEqual(t, c.Stats().RetainedBytes, int64(6*len(event)))
	}
	s := c.Stats()
	assert.Equal(t, int64(6*len(event)), s.RetainedBytes)
	assert.Equal(t, eventcoord.Evictions{ScopeBytes: 2}, s.EvictedBy)
	requireBalanced(t, s)
	for i := range 3 {
		assert.True(t, retained(t, b, fmt.Sprint("n", i)), "b is untouched")
	}
	assert.False(t, retained(t, a, "n1"))
	assert.True(t, retained(t, a, "n2"))
}

func TestOverallByteBoundEvictsFromTheScopeHoldingMostBytes(t *testing.T) { // S10 policy
	c := newCoordinator(t, eventcoord.WithMaxRetainedBytes(100))
	few, many := c.Scope("few"), c.Scope("many")
	signal(t, few, "big", eventcoord.Data{"v": strings.Repeat("x", 50)}) // 58 bytes
	for i := range 4 {
		signal(t, many, fmt.Sprint("n", i), eventcoord.Data{}) // 2 bytes each
	}
	// 104 bytes: many holds more events but few holds more bytes: few pays.
	signal(t, many, "wide", eventcoord.Data{"v": strings.Repeat("y", 30)}) // 38 bytes
	s := c.Stats()
	assert.Equal(t, eventcoord.Evictions{Bytes: 1}, s.EvictedBy)
	assert.Equal(t, int64(4*2+38), s.RetainedBytes)
	assert.False(t, retained(t, few, "big"))
	requireBalanced(t, c.Stats())
}

func TestEventLargerThanABoundIsEvictedAlone(t *testing.T) { // S10
	c := newCoordinator(t, eventcoord.WithMaxRetainedBytesPerScope(64))
	s := c.Scope("a")
	signal(t, s, "small", eventcoord.Data{})
	signal(t, s, "huge", eventcoord.Data{"v": "old"})
	r := signal(t, s, "huge", eventcoord.Data{"v": strings.Repeat("x", 100)})
	assert.False(t, r.Retained, "too large to retain")
	st := c.Stats()
	assert.Equal(t, eventcoord.Evictions{ScopeBytes: 1}, st.EvictedBy)
	assert.Equal(t, uint64(1), st.Replaced, "the newer event replaced the older, then was evicted")
	requireBalanced(t, st)
	assert.True(t, retained(t, s, "small"), "nothing else was evicted to make room")
	assert.False(t, retained(t, s, "huge"))
}

func TestLargeEventIsMeasuredAndStillDelivered(t *testing.T) {
	c := newCoordinator(t)
	data := eventcoord.Data{}
	for i := range 1000 { // well past what is measured under the shard's lock
		data[fmt.Sprint("k", i)] = []any{float64(i), "<&>", nil, true}
	}
	r := signal(t, c, "x", data)
	require.True(t, r.Retained)
	s := c.Stats()
	assert.Equal(t, jsonLen(t, data), s.RetainedBytes)
	w := register(t, c, "x")
	assert.Equal(t, r.Seq, await(t, w).Seq)
	assert.Equal(t, int64(0), c.Stats().RetainedBytes)
}

func TestGivenBackEventCountsTowardTheBounds(t *testing.T) { // S3 with S10
	c := newCoordinator(t, eventcoord.WithMaxRetainedPerScope(1))
	a := c.Scope("a")
	w := register(t, a, "x")
	signal(t, a, "x", eventcoord.Data{"v": "given back"}) // w holds it, unreturned
	signal(t, a, "y", eventcoord.Data{})                  // retained: a holds 1
	w.Cancel()                                            // x comes back: a holds 2, the oldest (y) goes
	s := c.Stats()
	assert.Equal(t, 1, s.Retained)
	assert.Equal(t, int64(len(`{"v":"given back"}`)), s.RetainedBytes)
	assert.Equal(t, eventcoord.Evictions{ScopeCount: 1}, s.EvictedBy)
	requireBalanced(t, s)
	assert.True(t, retained(t, a, "x"))
}

func TestCloseCountsDiscardedEvents(t *testing.T) {
	c := eventcoord.New()
	signal(t, c.Scope("a"), "x", eventcoord.Data{})
	signal(t, c, "y", eventcoord.Data{})
	require.NoError(t, c.Close())
	s := c.Stats()
	assert.Equal(t, eventcoord.Evictions{Closed: 2}, s.EvictedBy)
	assert.Equal(t, int64(0), s.RetainedBytes)
	requireBalanced(t, s)
}

// jsonLen returns the length of v's encoding by encoding/json.
func jsonLen(t testing.TB, v any) int64 {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return int64(len(b))
}

func TestBoundOptionsRejectNonsense(t *testing.T) {
	assert.PanicsWithValue(t, "eventcoord: WithMaxRetainedPerScope(0): want at least 1", func() { eventcoord.WithMaxRetainedPerScope(0) })
	assert.Panics(t, func() { eventcoord.WithMaxRetainedBytes(0) })
	assert.Panics(t, func() { eventcoord.WithMaxRetainedBytesPerScope(-1) })
}

// TestNothingIsLostAcrossScopes races signalers of several scopes against
// waiters that time out, cancel and give events back, under per-scope and
// overall bounds on count and bytes small enough that all of them evict,
// then checks the S3 ledger and that every bound holds.
func TestNothingIsLostAcrossScopes(t *testing.T) { // S3, S10
	const (
		maxRetained, perScope  = 6, 3
		maxBytes, perScopeByte = 200, 120
	)
	c := newCoordinator(t,
		eventcoord.WithShards(4),
		eventcoord.WithRetention(time.Hour), // expiry would race with the drain at the end
		eventcoord.WithMaxRetained(maxRetained),
		eventcoord.WithMaxRetainedPerScope(perScope),
		eventcoord.WithMaxRetainedBytes(maxBytes),
		eventcoord.WithMaxRetainedBytesPerScope(perScopeByte))
	scopes := []string{"", "a", "b", "c"}
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	payloads := []eventcoord.Data{{}, {"v": strings.Repeat("x", 20)}, {"v": strings.Repeat("y", 50)}, {"v": strings.Repeat("z", 300)}}
	const signalers, signalsEach, waiters = 4, 1500, 6

	var (
		mu       sync.Mutex
		accepted = map[uint64]bool{}
		returned = map[uint64]bool{}
	)
	stop := make(chan struct{})
	var wg errgroup.Group
	for range waiters {
		wg.Go(func() error {
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				s := c.Scope(scopes[rand.IntN(len(scopes))])
				name := names[rand.IntN(len(names))]
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
				w, err := s.Register(name)
				if err != nil {
					cancel()
					return err
				}
				if rand.IntN(2) == 0 {
					if ev, err := w.Wait(ctx); err == nil {
						mu.Lock()
						returned[ev.Seq] = true
						mu.Unlock()
					}
				}
				w.Cancel()
				cancel()
			}
		})
	}
	var sg errgroup.Group
	for range signalers {
		sg.Go(func() error {
			for range signalsEach {
				s := c.Scope(scopes[rand.IntN(len(scopes))])
				r, err := s.Signal(names[rand.IntN(len(names))], payloads[rand.IntN(len(payloads))])
				if err != nil {
					return err
				}
				mu.Lock()
				accepted[r.Seq] = true
				mu.Unlock()
			}
			return nil
		})
	}
	require.NoError(t, sg.Wait())
	close(stop)
	require.NoError(t, wg.Wait())

	// However the race went, every bound is reached at least once: each
	// scope gets more names than its count bound, and all of them more
	// events than the overall bound.
	for _, id := range scopes {
		for _, name := range names {
			r := signal(t, c.Scope(id), name, payloads[1])
			accepted[r.Seq] = true
		}
	}

	s := c.Stats()
	t.Logf("%+v", s)
	require.Equal(t, 0, s.Waiters)
	require.Equal(t, uint64(len(accepted)), s.Signals)
	requireBalanced(t, s)
	require.Equal(t, uint64(len(returned)), s.Delivered)
	assert.LessOrEqual(t, s.Retained, maxRetained)
	assert.LessOrEqual(t, s.RetainedBytes, int64(maxBytes))
	by := s.EvictedBy
	assert.Equal(t, s.Evicted, by.ScopeCount+by.ScopeBytes+by.Count+by.Bytes+by.Closed)
	assert.NotZero(t, by.ScopeCount, "the test should exercise the per-scope count bound")
	assert.NotZero(t, by.ScopeBytes, "the test should exercise the per-scope byte bound")
	assert.NotZero(t, by.Count+by.Bytes, "the test should exercise an overall bound")

	// Every scope is within its own bounds: drain each and count.
	total := 0
	for _, id := range scopes {
		n := 0
		for _, name := range names {
			if retained(t, c.Scope(id), name) {
				n++
			}
		}
		assert.LessOrEqual(t, n, perScope, "scope %q", id)
		total += n
	}
	assert.Equal(t, s.Retained, total)
	assert.Equal(t, int64(0), c.Stats().RetainedBytes, "draining left no bytes counted")
}
