package eventcoordtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// testOrFirstEvent checks that a wait on approved Or rejected returns the
// first of them to be signaled, says which, and leaves the other name as
// if it had never waited: its next signal is retained, nobody woken.
func testOrFirstEvent(t *testing.T, f Factory) {
	hs := f.handles("or")
	w := newWaits(t)
	ch := w.start(w.ctx, hs[len(hs)-1], "approved", eventcoord.Or("rejected"))
	awaitWaiters(t, f, 2) // once per name
	rc := signal(t, hs[0], "rejected", eventcoord.Data{"by": "bob"})
	assert.Equal(t, 1, rc.Woken, "Receipt.Woken of the first signal")
	got := receive(t, ch, "Wait(approved, Or(rejected))")
	require.NoError(t, got.err)
	assert.Equal(t, "rejected", got.ev.Name, "Event.Name says which name fired")
	assert.Equal(t, rc.Seq, got.ev.Seq)
	assert.Equal(t, eventcoord.Data{"by": "bob"}, got.ev.Data)

	idle(t, f) // the wait left the other name too
	other := signal(t, hs[0], "approved", eventcoord.Data{"by": "alice"})
	assert.Equal(t, eventcoord.Receipt{Seq: other.Seq, Retained: true}, other,
		"the Receipt of a signal on the other name after the wait was served")
	assert.Equal(t, other.Seq, take(t, hs[0], "approved").Seq)
	assertNothingRetained(t, hs[0], "rejected")
	idle(t, f)
}

// testOrTakesRetained checks that an any-of wait takes a retained event of
// any of its names at once, the first name in the order given when several
// are retained, and leaves the others retained.
func testOrTakesRetained(t *testing.T, f Factory) {
	e := f.Scope("orret")
	rb := signal(t, e, "b", eventcoord.Data{"v": "b"})
	ev, err := e.Wait(ctx(t), "a", eventcoord.Or("b", "c"))
	require.NoError(t, err, "Wait(a, Or(b, c)) with b retained")
	assert.Equal(t, "b", ev.Name)
	assert.Equal(t, rb.Seq, ev.Seq)
	assertNothingRetained(t, e, "b")

	// Several retained: the first of the names as given, whatever the
	// order they were signaled in.
	rc := signal(t, e, "c", eventcoord.Data{"v": "c"})
	ra := signal(t, e, "a", eventcoord.Data{"v": "a"})
	ev, err = e.Wait(ctx(t), "b", eventcoord.Or("a", "c"))
	require.NoError(t, err, "Wait(b, Or(a, c)) with a and c retained")
	assert.Equal(t, "a", ev.Name, "the first retained name in the order given")
	assert.Equal(t, ra.Seq, ev.Seq)
	assert.Equal(t, rc.Seq, take(t, e, "c").Seq, "the other retained event is left alone")

	// Through Register as well.
	rb = signal(t, e, "b", eventcoord.Data{"v": "b2"})
	r := register(t, e, "a", eventcoord.Or("b"))
	awaitDone(t, r, "Register(a, Or(b)) with b retained")
	ev = waitFor(t, r, "Register(a, Or(b)) with b retained")
	assert.Equal(t, "b", ev.Name)
	assert.Equal(t, rb.Seq, ev.Seq)
	idle(t, f)
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, s.Signals, s.Delivered, "every signal taken exactly once: %+v", s)
	}
}

// testOrConcurrentSignals signals both names of an any-of wait at once,
// over and over: exactly one event is returned, the other is retained as if
// nobody had waited (Woken 0, Retained), and nothing is counted twice.
func testOrConcurrentSignals(t *testing.T, f Factory) {
	const rounds = 20
	hs := f.handles("orrace")
	w := newWaits(t)
	for i := range rounds {
		a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		ch := w.start(w.ctx, hs[i%len(hs)], a, eventcoord.Or(b))
		awaitWaiters(t, f, 2)
		var (
			g        sync.WaitGroup
			start    = make(chan struct{})
			receipts [2]eventcoord.Receipt
			errs     [2]error
		)
		for j, name := range []string{a, b} {
			h := hs[(i+j)%len(hs)]
			g.Go(func() {
				<-start
				receipts[j], errs[j] = h.Signal(w.ctx, name, eventcoord.Data{"name": name})
			})
		}
		close(start)
		g.Wait()
		require.NoError(t, errs[0], "round %d: Signal(%q)", i, a)
		require.NoError(t, errs[1], "round %d: Signal(%q)", i, b)
		got := receive(t, ch, fmt.Sprintf("round %d: Wait(%s, Or(%s))", i, a, b))
		require.NoError(t, got.err, "round %d", i)
		won := 0
		if got.ev.Name == b {
			won = 1
		}
		require.Contains(t, []string{a, b}, got.ev.Name, "round %d: Event.Name", i)
		lost, loser := 1-won, []string{a, b}[1-won]
		assert.Equal(t, receipts[won].Seq, got.ev.Seq, "round %d: the event returned", i)
		assert.Equal(t, eventcoord.Data{"name": got.ev.Name}, got.ev.Data, "round %d", i)
		assert.Equal(t, 1, receipts[won].Woken, "round %d: Receipt.Woken of the signal returned", i)
		assert.Equal(t, eventcoord.Receipt{Seq: receipts[lost].Seq, Retained: true}, receipts[lost],
			"round %d: the Receipt of the signal not returned", i)
		assert.Equal(t, receipts[lost].Seq, take(t, hs[0], loser).Seq, "round %d: the event not returned is retained", i)
		idle(t, f)
	}
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, uint64(2*rounds), s.Signals, "Stats.Signals")
		assert.Equal(t, uint64(2*rounds), s.Delivered, "Stats.Delivered: each event returned or polled once")
		assert.Zero(t, s.Retained+int(s.Replaced+s.Expired+s.Evicted+s.Cleared), "Stats: other outcomes %+v", s)
	}
}

// testOrDuplicates checks that a name given twice counts once, and that
// duplicates do not count toward MaxWaitNames.
func testOrDuplicates(t *testing.T, f Factory) {
	e := f.Scope("ordup")
	w := newWaits(t)
	ch := w.start(w.ctx, e, "a", eventcoord.Or("a", "b", "a", "b"))
	awaitWaiters(t, f, 2)
	rc := signal(t, e, "a", eventcoord.Data{})
	assert.Equal(t, 1, rc.Woken, "Receipt.Woken: a name given twice is one wait")
	got := receive(t, ch, "Wait(a, Or(a, b, a, b))")
	require.NoError(t, got.err)
	assert.Equal(t, rc.Seq, got.ev.Seq)
	idle(t, f)

	names := make([]string, 0, 2*eventcoord.MaxWaitNames)
	for i := range eventcoord.MaxWaitNames - 1 {
		names = append(names, fmt.Sprintf("n%d", i), fmt.Sprintf("n%d", i))
	}
	rc = signal(t, e, "n3", eventcoord.Data{})
	ev, err := e.Wait(ctx(t), "a", eventcoord.Or(names...))
	require.NoError(t, err, "a wait on MaxWaitNames distinct names, given with repeats")
	assert.Equal(t, rc.Seq, ev.Seq)
	idle(t, f)
}

// testOrTooManyNames checks that a wait on more than MaxWaitNames distinct
// names is ErrTooManyNames and changes nothing.
func testOrTooManyNames(t *testing.T, f Factory) {
	e := f.Scope("ormany")
	kept := signal(t, e, "n0", eventcoord.Data{"v": "kept"})
	before := statsWhenIdle(t, f)
	var names []string
	for i := range eventcoord.MaxWaitNames {
		names = append(names, fmt.Sprintf("n%d", i))
	}
	_, err := e.Wait(ctx(t), "first", eventcoord.Or(names...))
	assert.ErrorIs(t, err, eventcoord.ErrTooManyNames, "Wait on %d names", len(names)+1)
	_, err = e.Register(ctx(t), "first", eventcoord.Or(names...))
	assert.ErrorIs(t, err, eventcoord.ErrTooManyNames, "Register on %d names", len(names)+1)
	assertUnchanged(t, f, e, before, "n0", kept)
}

// testOrFresh checks Or with Fresh: every retained event of its names is
// left alone, and the first new signal of any of them is returned.
func testOrFresh(t *testing.T, f Factory) {
	e := f.Scope("orfresh")
	ra := signal(t, e, "a", eventcoord.Data{"v": "stale a"})
	rb := signal(t, e, "b", eventcoord.Data{"v": "stale b"})
	w := newWaits(t)
	ch := w.start(w.ctx, e, "a", eventcoord.Or("b"), eventcoord.Fresh())
	awaitWaiters(t, f, 2)
	rc := signal(t, e, "b", eventcoord.Data{"v": "new b"})
	assert.Equal(t, 1, rc.Woken, "Receipt.Woken of a new signal with a Fresh any-of waiter")
	got := receive(t, ch, "Wait(a, Or(b), Fresh())")
	require.NoError(t, got.err)
	assert.Equal(t, "b", got.ev.Name)
	assert.Equal(t, rc.Seq, got.ev.Seq)
	assert.Equal(t, ra.Seq, take(t, e, "a").Seq, "a's old event is still retained")
	assert.Equal(t, rb.Seq, take(t, e, "b").Seq, "b's old event is still retained")
	idle(t, f)
}

// testOrRegister checks an any-of Registration: reached by a signal of
// any of its names sent after Register returned, and, cancelled while it
// holds that event unreturned, giving it back to that name only.
func testOrRegister(t *testing.T, f Factory) {
	hs := f.handles("orreg")
	r := register(t, hs[len(hs)-1], "approved", eventcoord.Or("rejected"))
	assert.False(t, isDone(r), "an any-of Registration is Done before any signal")
	rc := signal(t, hs[0], "approved", eventcoord.Data{"by": "alice"})
	assert.Equal(t, 1, rc.Woken)
	awaitDone(t, r, "Register(approved, Or(rejected))")
	ev := waitFor(t, r, "Register(approved, Or(rejected))")
	assert.Equal(t, "approved", ev.Name)
	assert.Equal(t, rc.Seq, ev.Seq)
	idle(t, f)
	other := signal(t, hs[0], "rejected", eventcoord.Data{})
	assert.Equal(t, eventcoord.Receipt{Seq: other.Seq, Retained: true}, other, "a signal on the other name after the Registration was served")
	take(t, hs[0], "rejected")

	// Cancelled while holding its event: given back to its own name.
	r = register(t, hs[len(hs)-1], "approved", eventcoord.Or("rejected"))
	rc = signal(t, hs[0], "rejected", eventcoord.Data{"by": "bob"})
	require.Equal(t, 1, rc.Woken)
	awaitDone(t, r, "the second Register(approved, Or(rejected))")
	r.Cancel()
	idle(t, f)
	assert.Equal(t, rc.Seq, take(t, hs[0], "rejected").Seq, "the event given back to its name")
	assertNothingRetained(t, hs[0], "approved")
	idle(t, f)
}
