package eventcoord_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// What only the in-process backend shows of Fresh, Or, Clear and List; the
// rest is in package eventcoordtest's suite (conformance_test.go).

func registerWith(t testing.TB, c *eventcoord.Coordinator, name string, opts ...eventcoord.WaitOption) *eventcoord.Waiter {
	t.Helper()
	w, err := c.Register(name, opts...)
	require.NoError(t, err, "Register(%q, ...)", name)
	t.Cleanup(w.Cancel)
	return w
}

func TestOrRemovesItsOtherNamesBeforeWaking(t *testing.T) {
	c := newCoordinator(t)
	w := registerWith(t, c, "a", eventcoord.Or("b", "c"))
	require.Equal(t, 3, c.Stats().Waiters, "an any-of wait counts once per name")
	r := signal(t, c, "b", eventcoord.Data{})
	require.Equal(t, 1, r.Woken)
	// Before the Waiter's Wait: Signal removed the other members.
	s := c.Stats()
	assert.Zero(t, s.Waiters, "waiters once Signal returned")
	assert.Zero(t, s.Names, "names holding state once Signal returned")
	require.True(t, ready(w))
	ev := await(t, w)
	assert.Equal(t, "b", ev.Name)
	assert.Equal(t, r.Seq, ev.Seq)
}

func TestOrTakesAGivenBackEvent(t *testing.T) { // S3 with Or
	c := newCoordinator(t)
	r := signal(t, c, "a", eventcoord.Data{})
	holder := register(t, c, "a") // takes the retained event
	anyOf := registerWith(t, c, "b", eventcoord.Or("a"))
	require.False(t, ready(anyOf))
	holder.Cancel()
	ev := await(t, anyOf)
	assert.Equal(t, "a", ev.Name)
	assert.Equal(t, r.Seq, ev.Seq)
	s := c.Stats()
	assert.Zero(t, s.Waiters)
	assert.Zero(t, s.Retained)
	assert.Equal(t, uint64(1), s.Delivered)
	requireBalanced(t, s)
}

func TestOrDeliveryWinsOverEndedContext(t *testing.T) { // S3 with Or
	c := newCoordinator(t)
	w := registerWith(t, c, "a", eventcoord.Or("b"))
	r := signal(t, c, "b", eventcoord.Data{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev, err := w.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
	again, err := w.Wait(ctx)
	require.NoError(t, err, "a Waiter that returned its event returns it again")
	assert.Equal(t, ev, again)
}

func TestFreshNeverGetsAGivenBackEvent(t *testing.T) { // S6 with Fresh
	c := newCoordinator(t)
	old := signal(t, c, "x", eventcoord.Data{"v": "old"})
	holder := register(t, c, "x") // takes the old event
	fresh := registerWith(t, c, "x", eventcoord.Fresh())
	holder.Cancel()
	assert.False(t, ready(fresh), "the given-back event, older than the Fresh wait, reached it")
	ev, err := c.Poll("x")
	require.NoError(t, err)
	assert.Equal(t, old.Seq, ev.Seq, "the given-back event is retained again")
	r := signal(t, c, "x", eventcoord.Data{"v": "new"})
	assert.Equal(t, r.Seq, await(t, fresh).Seq)
	requireBalanced(t, c.Stats())
}

func TestFreshAndPlainWaitersShareOneSignal(t *testing.T) { // S1 with Fresh
	c := newCoordinator(t)
	plain, fresh := register(t, c, "x"), registerWith(t, c, "x", eventcoord.Fresh())
	anyOf := registerWith(t, c, "y", eventcoord.Or("x"), eventcoord.Fresh())
	r := signal(t, c, "x", eventcoord.Data{})
	assert.Equal(t, 3, r.Woken)
	for _, w := range []*eventcoord.Waiter{plain, fresh, anyOf} {
		assert.Equal(t, r.Seq, await(t, w).Seq)
	}
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Delivered)
	assert.Equal(t, uint64(3), s.Woken)
	assert.Zero(t, s.Names)
}

func TestCloseWakesFreshAndAnyOfWaits(t *testing.T) { // S5
	c := eventcoord.New()
	ws := []*eventcoord.Waiter{
		registerWith(t, c, "x", eventcoord.Fresh()),
		registerWith(t, c, "x", eventcoord.Or("y", "z")),
		registerWith(t, c, "y", eventcoord.Or("x"), eventcoord.Fresh()),
	}
	require.Equal(t, 6, c.Stats().Waiters)
	c.Close()
	for i, w := range ws {
		require.True(t, ready(w), "Waiter %d is woken by Close", i)
		_, err := w.Wait(context.Background())
		assert.ErrorIs(t, err, eventcoord.ErrClosed, "Waiter %d", i)
		w.Cancel() // nothing to give back
	}
	s := c.Stats()
	assert.Zero(t, s.Waiters)
	assert.Zero(t, s.Names)
	_, err := c.Register("x", eventcoord.Or("y"))
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
	_, err = c.Register("x", eventcoord.Fresh())
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
	_, err = c.Clear("x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
}

// TestDoneOfAWaiterThatLeft checks what Waiter.Done's doc says of a waiter
// that left: its channel closes when the waiters registered with it are
// reached, stays open if none is left, and for a wait on several names
// never closes; Wait says why it left in every case.
func TestDoneOfAWaiterThatLeft(t *testing.T) {
	c := newCoordinator(t)
	gone, stays := register(t, c, "x"), register(t, c, "x")
	gone.Cancel()
	signal(t, c, "x", eventcoord.Data{})
	await(t, stays)
	assert.True(t, ready(gone), "Done of a waiter that left is closed with its batch's")
	_, err := gone.Wait(context.Background())
	assert.ErrorIs(t, err, context.Canceled)

	lone := register(t, c, "y")
	lone.Cancel()
	require.True(t, signal(t, c, "y", eventcoord.Data{}).Retained)
	assert.True(t, ready(lone), "Done of a waiter that left alone is closed at once")

	anyOf := registerWith(t, c, "z", eventcoord.Or("zz"))
	beside := register(t, c, "z")
	anyOf.Cancel()
	signal(t, c, "z", eventcoord.Data{})
	await(t, beside)
	assert.True(t, ready(anyOf), "Done of an any-of waiter that left is closed at once")
	_, err = anyOf.Wait(context.Background())
	assert.ErrorIs(t, err, context.Canceled)
}

func TestClearIsCountedAndKeepsTheLedger(t *testing.T) { // S3 with Clear
	c := newCoordinator(t)
	signal(t, c, "x", eventcoord.Data{})
	signal(t, c.Scope("s"), "x", eventcoord.Data{})
	ok, err := c.Scope("s").Clear("x")
	require.NoError(t, err)
	assert.True(t, ok)
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Cleared)
	assert.Equal(t, 1, s.Retained, "the default scope's event stays")
	requireBalanced(t, s)
	_, err = c.Clear("bad\xff")
	var ne *eventcoord.NameError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, "not valid UTF-8", ne.Reason)
}

func TestListCountsAnyOfWaitsOnEachName(t *testing.T) {
	c := newCoordinator(t)
	registerWith(t, c, "a", eventcoord.Or("b"))
	registerWith(t, c, "b", eventcoord.Fresh())
	signal(t, c, "c", eventcoord.Data{"k": "v"})
	l, err := c.List(eventcoord.ListOptions{})
	require.NoError(t, err)
	require.Len(t, l.Names, 3)
	assert.Equal(t, eventcoord.NameState{Name: "a", Waiters: 1}, l.Names[0])
	assert.Equal(t, eventcoord.NameState{Name: "b", Waiters: 2}, l.Names[1], "a plain and a Fresh waiter")
	assert.True(t, l.Names[2].Retained)
	assert.Equal(t, int64(len(`{"k":"v"}`)), l.Names[2].Size)
	s := c.Stats()
	assert.Equal(t, eventcoord.ScopeStats{Names: 3, Waiters: 3, Retained: 1, RetainedBytes: 9}, l.Scope)
	assert.Equal(t, s.Waiters, l.Scope.Waiters, "List and Stats count waiters alike")
	assert.Equal(t, s.Names, l.Scope.Names)
}

func TestListOfManyNamesKeepsPagesExact(t *testing.T) {
	c := newCoordinator(t, eventcoord.WithShards(4))
	const n = 2500 // more than any page holds, so pages are cut while shards are read
	for i := range n {
		signal(t, c, fmt.Sprintf("n%05d", i), eventcoord.Data{})
	}
	var got []string
	opts := eventcoord.ListOptions{Limit: 7}
	for {
		l, err := c.List(opts)
		require.NoError(t, err)
		for _, ns := range l.Names {
			got = append(got, ns.Name)
		}
		assert.Equal(t, n, l.Scope.Names)
		if l.Next == "" {
			break
		}
		opts.After = l.Next
	}
	require.Len(t, got, n)
	for i, name := range got {
		require.Equal(t, fmt.Sprintf("n%05d", i), name)
	}
}

// TestOrAgainstSignalsOnAllItsNames races one signal on each name of an
// any-of wait, round after round: exactly one event is returned and
// counted woken, every other is retained as if nobody had waited, and the
// S3 ledger holds.
func TestOrAgainstSignalsOnAllItsNames(t *testing.T) { // S3 with Or, under -race
	c := newCoordinator(t, eventcoord.WithShards(4))
	names := []string{"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"}
	const rounds = 200
	for round := range rounds {
		w := registerWith(t, c, names[0], eventcoord.Or(names[1:]...))
		receipts := make([]eventcoord.Receipt, len(names))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() {
				<-start
				r, err := c.Signal(name, eventcoord.Data{"i": i})
				assert.NoError(t, err)
				receipts[i] = r
			})
		}
		close(start)
		wg.Wait()
		ev := await(t, w)
		won := slices.Index(names, ev.Name)
		require.GreaterOrEqual(t, won, 0, "round %d: Event.Name %q", round, ev.Name)
		for i, r := range receipts {
			if i == won {
				assert.Equal(t, eventcoord.Receipt{Seq: ev.Seq, Woken: 1}, r, "round %d: the signal returned", round)
				continue
			}
			assert.Equal(t, eventcoord.Receipt{Seq: r.Seq, Retained: true}, r, "round %d: a signal not returned", round)
			got, err := c.Poll(names[i])
			require.NoError(t, err, "round %d: the event of %s is retained", round, names[i])
			assert.Equal(t, r.Seq, got.Seq)
		}
		s := c.Stats()
		require.Zero(t, s.Waiters, "round %d", round)
		require.Zero(t, s.Names, "round %d", round)
	}
	s := c.Stats()
	requireBalanced(t, s)
	assert.Equal(t, uint64(rounds*len(names)), s.Delivered, "every event taken once: by the wait or by Poll")
	assert.Equal(t, uint64(rounds*len(names)), s.Woken)
}

func TestANilWaitOptionAsksForNothing(t *testing.T) { // S7: bad input never panics
	c := eventcoord.New()
	defer c.Close()
	_, err := c.Signal("x", eventcoord.Data{"v": "retained"})
	require.NoError(t, err)
	ev, err := c.Wait(context.Background(), "x", nil)
	require.NoError(t, err, "a nil option is ignored")
	assert.Equal(t, "retained", ev.Data["v"])
	spec, err := eventcoord.NewWaitSpec("x", nil, eventcoord.Fresh(), nil)
	require.NoError(t, err)
	assert.Equal(t, eventcoord.WaitSpec{Names: []string{"x"}, Fresh: true}, spec)
}

// TestCancelWakesAWaitBlockedOnTheSameWaiter: Waiter's methods are safe
// for concurrent use, so a Cancel from another goroutine must end a Wait
// blocked on the Waiter. It never did for a Waiter alone on its name (or
// an any-of one): nothing closed the channel the Wait blocked on, not even
// Close, and the goroutine leaked (found by an outside tester).
func TestCancelWakesAWaitBlockedOnTheSameWaiter(t *testing.T) { // S4, S5
	for name, opts := range map[string][]eventcoord.WaitOption{
		"plain": nil,
		"fresh": {eventcoord.Fresh()},
		"or":    {eventcoord.Or("other")},
	} {
		t.Run(name, func(t *testing.T) {
			c := eventcoord.New()
			defer c.Close()
			w, err := c.Register("x", opts...)
			require.NoError(t, err)
			got := make(chan error, 1)
			go func() {
				_, err := w.Wait(context.Background())
				got <- err
			}()
			w.Cancel() // before or while the Wait blocks: either way it must end
			select {
			case err := <-got:
				assert.ErrorIs(t, err, context.Canceled)
			case <-time.After(time.Minute):
				t.Fatal("a Wait blocked on a cancelled Waiter never returned")
			}
			select {
			case <-w.Done():
			default:
				t.Error("Done of a cancelled Waiter alone on its name is not closed")
			}
			assert.Zero(t, c.Stats().Waiters)
		})
	}
}

// TestCancelOfASharedWaiterEndsItsWaitWithTheBatch: a Waiter that shares
// its channel with others cannot close it; a Wait blocked on it returns
// context.Canceled when the others' event comes, and does not take it.
func TestCancelOfASharedWaiterEndsItsWaitWithTheBatch(t *testing.T) {
	c := eventcoord.New()
	defer c.Close()
	w, err := c.Register("x")
	require.NoError(t, err)
	other, err := c.Register("x")
	require.NoError(t, err)
	defer other.Cancel()
	got := make(chan error, 1)
	go func() {
		_, err := w.Wait(context.Background())
		got <- err
	}()
	w.Cancel()
	r, err := c.Signal("x", eventcoord.Data{})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Woken, "the cancelled Waiter is not woken")
	select {
	case err := <-got:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Minute):
		t.Fatal("the Wait did not end with its batch")
	}
	ev, err := other.Wait(context.Background())
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
}
