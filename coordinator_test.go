package eventcoord_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/eventcoord/eventcoord"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newCoordinator returns a Coordinator closed at the end of the test.
func newCoordinator(t testing.TB, opts ...eventcoord.Option) *eventcoord.Coordinator {
	t.Helper()
	c := eventcoord.New(opts...)
	t.Cleanup(func() { c.Close() })
	return c
}

func register(t testing.TB, c interface {
	Register(string, ...eventcoord.WaitOption) (*eventcoord.Waiter, error)
}, name string) *eventcoord.Waiter {
	t.Helper()
	w, err := c.Register(name)
	require.NoError(t, err, "Register(%q)", name)
	return w
}

func signal(t testing.TB, c interface {
	Signal(string, eventcoord.Data) (eventcoord.Receipt, error)
}, name string, data eventcoord.Data) eventcoord.Receipt {
	t.Helper()
	r, err := c.Signal(name, data)
	require.NoError(t, err, "Signal(%q)", name)
	return r
}

// ready reports whether w's event is there, without blocking.
func ready(w *eventcoord.Waiter) bool {
	select {
	case <-w.Done():
		return true
	default:
		return false
	}
}

// await returns w's event, failing the test if it takes longer than a
// generous deadline (a hang is a failure, not a stuck test run). Call it
// from the test's goroutine.
func await(t testing.TB, w *eventcoord.Waiter) eventcoord.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ev, err := w.Wait(ctx)
	require.NoError(t, err)
	return ev
}

// requireBalanced checks the S3 ledger of an idle Coordinator.
func requireBalanced(t testing.TB, s eventcoord.Stats) {
	t.Helper()
	require.Equal(t, s.Signals, s.Delivered+uint64(s.Retained)+s.Expired+s.Replaced+s.Evicted+s.Cleared,
		"every signal has one outcome: %+v", s)
}

func TestFanOutWakesEveryRegisteredWaiter(t *testing.T) { // S1
	c := newCoordinator(t)
	const n = 50
	waiters := make([]*eventcoord.Waiter, n)
	for i := range waiters {
		waiters[i] = register(t, c, "mfa_code")
	}
	events := make([]eventcoord.Event, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, w := range waiters {
		wg.Go(func() { events[i], errs[i] = w.Wait(context.Background()) })
	}
	t.Cleanup(func() { c.Close(); wg.Wait() }) // joined on every path
	data := eventcoord.Data{"code": "123456"}
	r := signal(t, c, "mfa_code", data)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "waiter %d", i)
	}

	assert.Equal(t, n, r.Woken)
	assert.False(t, r.Retained)
	for i, ev := range events {
		assert.Equal(t, r.Seq, ev.Seq, "waiter %d", i)
		assert.Equal(t, "mfa_code", ev.Name)
		assert.Equal(t, data, ev.Data)
	}
	s := c.Stats()
	assert.Equal(t, uint64(n), s.Woken)
	assert.Equal(t, 0, s.Waiters)
	assert.Equal(t, 0, s.Names)
	requireBalanced(t, s)
}

func TestFanOutThroughWait(t *testing.T) { // S1 with plain Wait calls
	c := newCoordinator(t)
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ev, err := c.Wait(context.Background(), "go")
			if err == nil && ev.Data["x"] != 1 {
				err = fmt.Errorf("data %v", ev.Data)
			}
			errs <- err
		})
	}
	t.Cleanup(func() { c.Close(); wg.Wait() }) // joined on every path
	eventually(t, "every goroutine waits", func() bool { return c.Stats().Waiters == n })
	r := signal(t, c, "go", eventcoord.Data{"x": 1})
	assert.Equal(t, n, r.Woken)
	for range n {
		require.NoError(t, <-errs)
	}
}

func TestRetainedEventGoesToNextWaiterOnly(t *testing.T) { // S2
	c := newCoordinator(t)
	r := signal(t, c, "done", eventcoord.Data{"ok": true})
	assert.True(t, r.Retained)
	assert.Zero(t, r.Woken)
	assert.Equal(t, 1, c.Stats().Retained)

	w := register(t, c, "done")
	require.True(t, ready(w), "a retained event is there at once")
	ev := await(t, w)
	assert.Equal(t, r.Seq, ev.Seq)

	next := register(t, c, "done")
	assert.False(t, ready(next), "the retained event was consumed")
	next.Cancel()
	s := c.Stats()
	assert.Equal(t, 0, s.Retained)
	assert.Equal(t, 0, s.Names)
	requireBalanced(t, s)
}

func TestWaitReturnsRetainedEvent(t *testing.T) { // S2 via Wait
	c := newCoordinator(t)
	r := signal(t, c, "x", eventcoord.Data{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := c.Wait(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, eventcoord.Data{}, ev.Data)
}

func TestNewerSignalReplacesRetained(t *testing.T) { // S2 latest wins
	c := newCoordinator(t)
	signal(t, c, "x", eventcoord.Data{"n": 1})
	r2 := signal(t, c, "x", eventcoord.Data{"n": 2})
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Replaced)
	assert.Equal(t, 1, s.Retained)

	ev := await(t, register(t, c, "x"))
	assert.Equal(t, r2.Seq, ev.Seq)
	assert.Equal(t, 2, ev.Data["n"])
	requireBalanced(t, c.Stats())
}

func TestRetainedEventExpires(t *testing.T) { // S2 TTL
	c := newCoordinator(t, eventcoord.WithRetention(20*time.Millisecond))
	require.True(t, signal(t, c, "x", eventcoord.Data{}).Retained)
	require.Eventually(t, func() bool {
		s := c.Stats()
		return s.Expired == 1 && s.Retained == 0 && s.Names == 0
	}, 10*time.Second, time.Millisecond, "the expiry timer frees the event")

	w := register(t, c, "x")
	assert.False(t, ready(w), "an expired event is not delivered")
	w.Cancel()
	requireBalanced(t, c.Stats())
}

func TestExpiredEventIsNotReplaced(t *testing.T) { // S2: an expired event counts as expired, not replaced
	c := newCoordinator(t, eventcoord.WithRetention(time.Millisecond))
	signal(t, c, "x", eventcoord.Data{})
	start := time.Now()
	for time.Since(start) < 2*time.Millisecond { // the TTL must pass; the timer may or may not have run
	}
	r := signal(t, c, "x", eventcoord.Data{})
	assert.True(t, r.Retained)
	s := c.Stats()
	assert.Equal(t, uint64(0), s.Replaced)
	// The second event may itself have expired by now on a slow machine.
	assert.Contains(t, []uint64{1, 2}, s.Expired)
	requireBalanced(t, s)
}

func TestRetentionOff(t *testing.T) { // S2: TTL 0
	c := newCoordinator(t, eventcoord.WithRetention(0))
	r := signal(t, c, "x", eventcoord.Data{})
	assert.False(t, r.Retained)
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Expired)
	assert.Equal(t, 0, s.Names)
	w := register(t, c, "x")
	assert.False(t, ready(w))
	w.Cancel()
	requireBalanced(t, c.Stats())
}

func TestRetentionBoundEvictsOldest(t *testing.T) { // S2 bound
	c := newCoordinator(t, eventcoord.WithShards(1), eventcoord.WithMaxRetained(3))
	for _, name := range []string{"a", "b", "c", "d"} {
		require.True(t, signal(t, c, name, eventcoord.Data{}).Retained)
	}
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Evicted)
	assert.Equal(t, 3, s.Retained)
	requireBalanced(t, s)

	a := register(t, c, "a")
	assert.False(t, ready(a), "the oldest event was evicted")
	a.Cancel()
	for _, name := range []string{"b", "c", "d"} {
		assert.True(t, ready(register(t, c, name)), "%s is still retained", name)
	}
}

func TestRetentionBoundHoldsAcrossShards(t *testing.T) { // S2 bound is global
	c := newCoordinator(t, eventcoord.WithShards(8), eventcoord.WithMaxRetained(5))
	for i := range 100 {
		signal(t, c, fmt.Sprint("n", i), eventcoord.Data{})
		require.LessOrEqual(t, c.Stats().Retained, 5)
	}
	s := c.Stats()
	assert.Equal(t, uint64(95), s.Evicted)
	requireBalanced(t, s)
}

func TestCancelGivesBackTakenRetainedEvent(t *testing.T) { // S3 give-back
	c := newCoordinator(t)
	r := signal(t, c, "x", eventcoord.Data{"v": 1})
	w := register(t, c, "x")
	require.True(t, ready(w))
	w.Cancel()
	s := c.Stats()
	assert.Equal(t, 1, s.Retained, "the event is retained again")
	requireBalanced(t, s)
	assert.Equal(t, r.Seq, await(t, register(t, c, "x")).Seq)
	requireBalanced(t, c.Stats())
}

func TestCancelGivesBackFannedOutEventNobodyReturned(t *testing.T) { // S3 give-back
	c := newCoordinator(t)
	w1, w2 := register(t, c, "x"), register(t, c, "x")
	r := signal(t, c, "x", eventcoord.Data{})
	require.Equal(t, 2, r.Woken)
	w1.Cancel()
	assert.Equal(t, 0, c.Stats().Retained, "w2 still holds the event")
	w2.Cancel()
	s := c.Stats()
	assert.Equal(t, 1, s.Retained, "the last holder gives it back")
	assert.Equal(t, uint64(0), s.Delivered)
	requireBalanced(t, s)
	assert.Equal(t, r.Seq, await(t, register(t, c, "x")).Seq)
}

func TestCancelAfterAnotherWaiterReturnedKeepsNothing(t *testing.T) { // S3
	c := newCoordinator(t)
	w1, w2 := register(t, c, "x"), register(t, c, "x")
	signal(t, c, "x", eventcoord.Data{})
	await(t, w1)
	w2.Cancel()
	s := c.Stats()
	assert.Equal(t, 0, s.Retained)
	assert.Equal(t, uint64(1), s.Delivered)
	requireBalanced(t, s)
}

func TestGivenBackEventGoesToPendingWaiter(t *testing.T) { // S3
	c := newCoordinator(t)
	r := signal(t, c, "x", eventcoord.Data{})
	holder := register(t, c, "x") // takes the retained event
	next := register(t, c, "x")   // blocks
	require.False(t, ready(next))
	holder.Cancel()
	assert.Equal(t, r.Seq, await(t, next).Seq)
	s := c.Stats()
	assert.Equal(t, 0, s.Retained)
	requireBalanced(t, s)
}

func TestGivenBackEventNeverDisplacesNewer(t *testing.T) { // S3
	c := newCoordinator(t)
	signal(t, c, "x", eventcoord.Data{"v": "old"})
	holder := register(t, c, "x")
	newer := signal(t, c, "x", eventcoord.Data{"v": "new"})
	require.True(t, newer.Retained)
	holder.Cancel()
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Replaced, "the given-back event counts as replaced")
	assert.Equal(t, 1, s.Retained)
	requireBalanced(t, s)
	assert.Equal(t, newer.Seq, await(t, register(t, c, "x")).Seq)
}

func TestGivenBackNewerReplacesOlderRetained(t *testing.T) { // S3: seq decides, not arrival
	c := newCoordinator(t)
	signal(t, c, "x", eventcoord.Data{}) // s1, retained
	h1 := register(t, c, "x")            // holds s1
	h2 := register(t, c, "x")            // pending
	s2 := signal(t, c, "x", eventcoord.Data{})
	require.Equal(t, 1, s2.Woken) // h2 holds s2
	h1.Cancel()                   // s1 retained again
	h2.Cancel()                   // s2 is newer: it replaces s1
	assert.Equal(t, s2.Seq, await(t, register(t, c, "x")).Seq)
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Replaced)
	requireBalanced(t, s)
}

func TestDeliveryWinsOverEndedContext(t *testing.T) { // S3
	c := newCoordinator(t)
	w := register(t, c, "x")
	r := signal(t, c, "x", eventcoord.Data{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev, err := w.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
}

func TestWaiterLeftBeforeSignalIsNotCounted(t *testing.T) { // S3
	c := newCoordinator(t)
	gone, stays := register(t, c, "x"), register(t, c, "x")
	gone.Cancel()
	r := signal(t, c, "x", eventcoord.Data{})
	assert.Equal(t, 1, r.Woken)
	await(t, stays)
	_, err := gone.Wait(context.Background())
	assert.ErrorIs(t, err, context.Canceled)

	lone := register(t, c, "y")
	lone.Cancel()
	r = signal(t, c, "y", eventcoord.Data{})
	assert.True(t, r.Retained, "nobody was woken: the signal is retained")
}

func TestWaiterIsOneShotAndIdempotent(t *testing.T) {
	c := newCoordinator(t)
	w := register(t, c, "x")
	signal(t, c, "x", eventcoord.Data{})
	first := await(t, w)
	again := await(t, w)
	assert.Equal(t, first, again, "Wait again returns the same event")
	before := c.Stats()
	w.Cancel()
	w.Cancel()
	assert.Equal(t, before, c.Stats(), "Cancel after Wait changes nothing")
}

func TestWaitAfterTimeoutReturnsSameError(t *testing.T) {
	c := newCoordinator(t)
	w := register(t, c, "x")
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := w.Wait(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = w.Wait(context.Background())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, signal(t, c, "x", eventcoord.Data{}).Retained, "the waiter had left")
}

func TestCancellationLeavesNothing(t *testing.T) { // S4
	c := newCoordinator(t)
	names := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			name := names[i%len(names)]
			if i%2 == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(2000))*time.Microsecond)
				defer cancel()
				_, err := c.Wait(ctx, name)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				return
			}
			w, err := c.Register(name)
			if assert.NoError(t, err) {
				w.Cancel()
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	assert.Equal(t, 0, s.Waiters)
	assert.Equal(t, 0, s.Names)
}

func TestWaitWithEndedContextConsumesNothing(t *testing.T) { // S4
	c := newCoordinator(t)
	signal(t, c, "x", eventcoord.Data{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Wait(ctx, "x")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, c.Stats().Retained)
}

func TestManyNamesLeaveNoState(t *testing.T) { // S4
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	c := newCoordinator(t)
	ctx := context.Background()
	for i := range n {
		name := fmt.Sprint("name-", i)
		if _, err := c.Signal(name, eventcoord.Data{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Wait(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	s := c.Stats()
	assert.Equal(t, 0, s.Names)
	assert.Equal(t, uint64(n), s.Delivered)
}

func TestCloseWakesWaitersAndRefusesWork(t *testing.T) { // S5
	c := eventcoord.New()
	w := register(t, c, "x")
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := c.Wait(context.Background(), "y")
		errs <- err
	})
	t.Cleanup(func() { c.Close(); wg.Wait() }) // joined on every path
	eventually(t, "the goroutine waits", func() bool { return c.Stats().Waiters == 2 })
	signal(t, c, "retained", eventcoord.Data{})

	require.NoError(t, c.Close())
	_, err := w.Wait(context.Background())
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
	assert.ErrorIs(t, <-errs, eventcoord.ErrClosed)

	_, err = c.Signal("x", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
	_, err = c.Wait(context.Background(), "x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
	_, err = c.Register("x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
	require.NoError(t, c.Close(), "Close is idempotent")

	s := c.Stats()
	assert.Equal(t, 0, s.Waiters)
	assert.Equal(t, 0, s.Retained)
	assert.Equal(t, uint64(1), s.Evicted, "the retained event was discarded")
	requireBalanced(t, s)
}

func TestCloseRacesWithEverything(t *testing.T) { // S5 under -race
	for range 20 {
		c := eventcoord.New(eventcoord.WithShards(4))
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				name := fmt.Sprint(i % 3)
				for {
					_, err := c.Signal(name, eventcoord.Data{})
					if errors.Is(err, eventcoord.ErrClosed) || !assert.NoError(t, err) {
						return
					}
				}
			})
			wg.Go(func() {
				name := fmt.Sprint(i % 3)
				for {
					_, err := c.Wait(context.Background(), name)
					if errors.Is(err, eventcoord.ErrClosed) || !assert.NoError(t, err) {
						return
					}
				}
			})
		}
		t.Cleanup(func() { c.Close(); wg.Wait() }) // joined on every path
		eventually(t, "the race is on", func() bool { return c.Stats().Signals > 100 })
		var closers sync.WaitGroup
		for range 3 {
			closers.Go(func() { assert.NoError(t, c.Close()) })
		}
		closers.Wait()
		wg.Wait()
		assert.Equal(t, 0, c.Stats().Waiters)
	}
}

func TestSeqGrowsAndOldEventsStayOld(t *testing.T) { // S6
	c := newCoordinator(t)
	var last uint64
	for i := range 100 {
		r := signal(t, c, fmt.Sprint("n", i%7), eventcoord.Data{})
		require.Greater(t, r.Seq, last)
		last = r.Seq
	}

	early := register(t, c, "x")
	first := signal(t, c, "x", eventcoord.Data{})
	late := register(t, c, "x")
	assert.False(t, ready(late), "late registered after the signal")
	second := signal(t, c, "x", eventcoord.Data{})
	assert.Equal(t, first.Seq, await(t, early).Seq)
	assert.Equal(t, second.Seq, await(t, late).Seq)
}

func TestInvalidInputChangesNothing(t *testing.T) { // S7
	c := newCoordinator(t)
	signal(t, c, "x", eventcoord.Data{}) // some state to keep
	w := register(t, c, "pending")
	defer w.Cancel()
	before := c.Stats()

	badNames := map[string]string{
		"empty":      "",
		"1025 bytes": strings.Repeat("a", eventcoord.MaxNameLen+1),
		"not UTF-8":  "bad\xff",
	}
	for label, name := range badNames {
		t.Run(label, func(t *testing.T) {
			_, err := c.Signal(name, eventcoord.Data{})
			assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
			_, err = c.Wait(context.Background(), name)
			assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
			_, err = c.Register(name)
			assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
			_, err = c.Scope("s").Signal(name, eventcoord.Data{})
			assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
		})
	}
	_, err := c.Signal("x", nil)
	assert.ErrorIs(t, err, eventcoord.ErrDataRequired)
	assert.Equal(t, before, c.Stats())

	longest := strings.Repeat("é", eventcoord.MaxNameLen/2)
	assert.True(t, signal(t, c, longest, eventcoord.Data{}).Retained, "a %d-byte name is fine", len(longest))
}

func TestScopesAreSeparate(t *testing.T) { // S8
	c := newCoordinator(t)
	a, b := c.Scope("alice"), c.Scope("bob")
	inB := register(t, b, "x")
	inDefault := register(t, c, "x")
	r := signal(t, a, "x", eventcoord.Data{"who": "alice"})
	assert.True(t, r.Retained, "nobody waits in alice's scope")
	assert.False(t, ready(inB))
	assert.False(t, ready(inDefault))
	assert.Equal(t, r.Seq, await(t, register(t, a, "x")).Seq)

	// A scope is never a prefix a name could forge.
	signal(t, c.Scope("a"), "b:x", eventcoord.Data{})
	forged := register(t, c.Scope("a:b"), "x")
	assert.False(t, ready(forged))
	forged.Cancel()
	inB.Cancel()
	inDefault.Cancel()
}

func TestWaitersShareSignaledData(t *testing.T) { // S9
	c := newCoordinator(t)
	w1, w2 := register(t, c, "x"), register(t, c, "x")
	data := eventcoord.Data{"k": "v"}
	signal(t, c, "x", data)
	e1, e2 := await(t, w1), await(t, w2)
	assert.Equal(t, reflect.ValueOf(data).Pointer(), reflect.ValueOf(e1.Data).Pointer(), "no copy is made")
	assert.Equal(t, reflect.ValueOf(e1.Data).Pointer(), reflect.ValueOf(e2.Data).Pointer())
}

func TestOptionsRejectNonsense(t *testing.T) {
	assert.PanicsWithValue(t, "eventcoord: WithShards(0): want 1 to 65536", func() { eventcoord.WithShards(0) })
	assert.Panics(t, func() { eventcoord.WithRetention(-time.Second) })
	assert.Panics(t, func() { eventcoord.WithMaxRetained(0) })
}

func TestSignalAllocationsDoNotGrowWithWaiters(t *testing.T) {
	c := newCoordinator(t)
	data := eventcoord.Data{}
	for _, n := range []int{1, 16, 256, 4096} {
		for range n {
			register(t, c, "x")
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := c.Signal("x", data)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.Equal(t, n, r.Woken)
		assert.LessOrEqual(t, after.Mallocs-before.Mallocs, uint64(2), "Signal to %d waiters", n)
	}
}

// Registered waiters of one name share chunks of Waiters, so that fan-out
// to n waiters does not cost n allocations.
func TestRegisterAllocationsDoNotGrowWithWaiters(t *testing.T) {
	c := newCoordinator(t)
	const n = 1024
	ws := make([]*eventcoord.Waiter, n)
	allocs := testing.AllocsPerRun(10, func() {
		for i := range ws {
			ws[i], _ = c.Register("x")
		}
		for _, w := range ws {
			w.Cancel()
		}
	})
	assert.Less(t, allocs, float64(n/16), "registering %d waiters", n)
	assert.Zero(t, c.Stats().Waiters)
}

// A Wait that returns recycles its batch for later waits; a registered
// Waiter that shared that batch must keep working whatever reuses it,
// whether it left before the signal or still holds the event.
func TestRegisteredWaiterSurvivesBatchReuse(t *testing.T) {
	for _, holds := range []bool{false, true} {
		t.Run(fmt.Sprintf("holds=%v", holds), func(t *testing.T) {
			c := newCoordinator(t)
			ctx := context.Background()
			w := register(t, c, "x")
			got := make(chan eventcoord.Event, 1)
			errs := make(chan error, 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				ev, err := c.Wait(ctx, "x")
				errs <- err
				got <- ev
			})
			t.Cleanup(func() { c.Close(); wg.Wait() }) // joined on every path
			eventually(t, "the goroutine waits", func() bool { return c.Stats().Waiters == 2 })
			if !holds {
				w.Cancel()
			}
			r := signal(t, c, "x", eventcoord.Data{"n": 1})
			require.NoError(t, <-errs)
			require.Equal(t, r.Seq, (<-got).Seq)

			for i := range 1000 { // reuse whatever batches were recycled
				signal(t, c, "y", eventcoord.Data{"i": i})
				_, err := c.Wait(ctx, "y")
				require.NoError(t, err)
			}
			ev, err := w.Wait(ctx)
			if !holds {
				assert.ErrorIs(t, err, context.Canceled)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, r.Seq, ev.Seq)
			assert.Equal(t, 1, ev.Data["n"])
		})
	}
}

// Registrations after the first of a round join the pending batch without
// the shard's lock; Stats, Cancel and S4 see them like any other.
func TestStatsCountWaitersRegisteredWithoutTheLock(t *testing.T) { // S4
	c := newCoordinator(t, eventcoord.WithShards(1))
	ws := make([]*eventcoord.Waiter, 6)
	for i := range ws {
		ws[i] = register(t, c, "x")
	}
	other := register(t, c, "y") // same shard, another name
	assert.Equal(t, 7, c.Stats().Waiters)
	ws[0].Cancel() // the batch's own Waiter
	ws[4].Cancel() // one from a chunk
	s := c.Stats()
	assert.Equal(t, 5, s.Waiters)
	assert.Equal(t, 2, s.Names)

	r := signal(t, c, "x", eventcoord.Data{})
	assert.Equal(t, 4, r.Woken)
	for _, i := range []int{1, 2, 3, 5} {
		assert.Equal(t, r.Seq, await(t, ws[i]).Seq)
	}
	assert.Equal(t, 1, c.Stats().Waiters)

	// A round whose waiters all leave leaves nothing, and the next round
	// starts afresh.
	for i := range ws {
		ws[i] = register(t, c, "x")
	}
	for _, w := range ws {
		w.Cancel()
	}
	other.Cancel()
	s = c.Stats()
	assert.Equal(t, 0, s.Waiters)
	assert.Equal(t, 0, s.Names)
	w := register(t, c, "x")
	r = signal(t, c, "x", eventcoord.Data{})
	assert.Equal(t, 1, r.Woken)
	assert.Equal(t, r.Seq, await(t, w).Seq)
	requireBalanced(t, c.Stats())
}

// A round of registrations costs the same few allocations however many
// waiters register, once the shard has seen a round of that size: the
// batch, its channel, and one chunk of Waiters with its header.
func TestRoundAllocationsDoNotGrowWithWaiters(t *testing.T) {
	for _, n := range []int{16, 1024} {
		c := newCoordinator(t)
		ws := make([]*eventcoord.Waiter, n)
		data := eventcoord.Data{}
		round := func() {
			for i := range ws {
				ws[i], _ = c.Register("x")
			}
			if _, err := c.Signal("x", data); err != nil {
				t.Error(err)
			}
		}
		round() // the shard learns the round's size
		allocs := testing.AllocsPerRun(10, round)
		assert.LessOrEqual(t, allocs, 4.0, "a round of %d waiters", n)
	}
}

// An any-of wait that joins a name's pending batch while Registers join it
// without the lock takes it out of that path; the counts stay right before
// and after the signal, and the any-of wait is served like the others.
func TestAnyOfWaitJoiningTheHotBatch(t *testing.T) { // S1, S3
	c := newCoordinator(t, eventcoord.WithShards(1))
	ws := []*eventcoord.Waiter{register(t, c, "x"), register(t, c, "x"), register(t, c, "x")}
	any, err := c.Register("y", eventcoord.Or("x"))
	require.NoError(t, err)
	ws = append(ws, register(t, c, "x"), register(t, c, "x"))
	ws[1].Cancel()
	ws[3].Cancel()
	assert.Equal(t, 5, c.Stats().Waiters, "3 plain waiters on x, and the any-of wait on x and y")

	r := signal(t, c, "x", eventcoord.Data{})
	assert.Equal(t, 4, r.Woken)
	for _, i := range []int{0, 2, 4} {
		assert.Equal(t, r.Seq, await(t, ws[i]).Seq)
	}
	assert.Equal(t, r.Seq, await(t, any).Seq)
	s := c.Stats()
	assert.Equal(t, 0, s.Waiters)
	assert.Equal(t, 0, s.Names)

	// The next round joins without the lock again.
	for i := range ws {
		ws[i] = register(t, c, "x")
	}
	assert.Equal(t, 5, c.Stats().Waiters)
	r = signal(t, c, "x", eventcoord.Data{})
	assert.Equal(t, 5, r.Woken)
	for _, w := range ws {
		assert.Equal(t, r.Seq, await(t, w).Seq)
	}
	requireBalanced(t, c.Stats())
}

// A round trip of plain Waits and Signals between two goroutines
// allocates nothing as a rule: a batch of one plain Wait goes back to the
// pool with its channel (a garbage collection may empty the pool now and
// then). Two allocations a round trip, a channel per wait, before.
func TestPlainWaitRoundTripsDoNotAllocate(t *testing.T) {
	c := newCoordinator(t)
	ctx := context.Background()
	data := eventcoord.Data{}
	var g errgroup.Group
	g.Go(func() error {
		for {
			if _, err := c.Wait(ctx, "ping"); err != nil {
				return nil // closed: the test is over
			}
			if _, err := c.Signal("pong", data); err != nil {
				return nil
			}
		}
	})
	roundTrip := func() {
		_, err := c.Signal("ping", data)
		assert.NoError(t, err)
		_, err = c.Wait(ctx, "pong")
		assert.NoError(t, err)
	}
	roundTrip() // the pool fills
	allocs := testing.AllocsPerRun(1000, roundTrip)
	require.NoError(t, c.Close())
	require.NoError(t, g.Wait())
	// Under -race the pool drops a quarter of its batches, and their
	// channels with them: about 1 a round trip, against 2.5 before.
	limit := 0.5
	if raceEnabled {
		limit = 1.5
	}
	assert.Less(t, allocs, limit, "allocations per round trip")
}
