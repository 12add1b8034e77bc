// Package eventcoordtest checks an implementation of [eventcoord.Events]
// against the semantics S1–S9 of the design, in the spirit of
// testing/fstest.TestFS: every backend's own tests call [TestEvents], so a
// difference between backends is a failing test (S11).
//
//	func TestConformance(t *testing.T) {
//		eventcoordtest.TestEvents(t, func(t *testing.T) eventcoordtest.Factory {
//			c := eventcoord.New()
//			t.Cleanup(func() { c.Close() })
//			return eventcoordtest.Factory{
//				Scope:   func(id string) eventcoord.Events { return c.Scope(id).Events() },
//				Waiters: func() int { return c.Stats().Waiters },
//				Stats:   c.Stats,
//				Close:   c.Close,
//			}
//		})
//	}
//
// What it covers, per semantic (part names in parentheses):
//
//   - S1: every waiter registered before a signal (on several handles when
//     the Factory has a Peer) returns that signal's event, same Seq and
//     equal data; the Receipt counts them; a later waiter does not get it.
//   - S2: a signal nobody waits for is retained, returned by the next wait
//     and by it only; a newer signal replaces it (also across handles).
//   - S3: a small concurrent race of signalers and waiters loses nothing:
//     every waiter returns one accepted event, the latest signal is
//     returned or still retained, a Receipt's Woken is the number of
//     waiters that returned its event; with Stats, the identity
//     Signals = Delivered + Retained + Expired + Replaced + Evicted +
//     Cleared and Delivered = the events taken. A waiter that left before
//     a signal is not counted as woken and the signal is retained.
//   - S4: Wait returns ctx.Err() promptly when its context ends (cancel and
//     deadline), and leaves no waiter behind (nor, with Stats, a name); a
//     Wait with a done context consumes nothing. Leaked goroutines are
//     the caller's TestMain's to find (go.uber.org/goleak).
//   - S5, when the Factory can Close: blocked waiters return ErrClosed,
//     then Signal, Wait, Poll, Register, Clear and List return ErrClosed; Close is idempotent;
//     Close racing with waits and another Close, or with signals, leaves
//     each call succeeding or returning ErrClosed.
//   - S6: Seq grows strictly with every accepted signal (across names,
//     scopes and handles); a waiter never gets an event signaled before it
//     registered except the retained one; Event.Seq equals Receipt.Seq.
//   - S7: bad names are ErrInvalidName for errors.Is and a
//     [*eventcoord.NameError] with a Reason for errors.As, from Signal,
//     Wait (also among Or's names), Register, Poll and Clear, and nil data
//     ErrDataRequired; none of them changes anything; a name of MaxNameLen
//     bytes and an empty Data are fine.
//   - S8: the same name in two scopes is two unrelated events, also for
//     scope and name pairs that a naive key joining would confuse, and
//     List shows a scope's names only.
//   - S9: every waiter of a signal gets data equal to what was signaled
//     (strings, booleans, null, nested objects and arrays). Numbers
//     (Decode/...): data signaled with Go numbers, one beyond float64's
//     precision among them, decodes by Event.Decode into a typed struct
//     the same on every backend and into a map[string]any as json.Number;
//     Data made by DataOf arrives unchanged and decodes back by DecodeAs.
//     That waiters share one map read-only is in-process only and is left
//     to the root package.
//   - Poll: it takes and consumes the retained event, returns ErrNoEvent at
//     once and changes nothing when there is none, and validates names.
//   - Register (Register/...): a signal sent any time after Register
//     returned reaches the Registration, with no polling in between, on
//     every handle; Done closes once the event is there; Register takes a
//     retained event at once; Cancel before the event leaves no waiter;
//     Cancel of a Registration holding an unreturned event, taken retained
//     or delivered, gives it back (retained again, same Seq);
//     Registration.Wait with an ended context leaves, but returns an event
//     that reached it already (delivery wins).
//   - Fresh (Fresh/...): a Fresh wait or Registration leaves the retained
//     event alone (still retained, same Seq, not counted replaced) and
//     returns only a signal sent after it registered; a plain wait beside
//     it takes the retained event; a signal that reached a plain and a
//     Fresh Registration is given back only if neither returned it.
//   - Or (Or/...): the first event of any of the names is returned, with
//     Event.Name saying which; a retained event of any name is taken at
//     once, the first retained name in the order given when several are;
//     the other names are left exactly as they were: a later signal on one
//     is Receipt{Retained: true, Woken: 0}; two names signaled at once (20
//     rounds) return exactly one event and retain the other, each counted
//     once; a name given twice counts once; more than MaxWaitNames names
//     is ErrTooManyNames and changes nothing; Or with Fresh; Or on
//     Register, whose Cancel gives a held event back to its own name only.
//     Factory.Waiters counts such a wait once per name.
//   - Clear (Clear/...): true and removed when an event is retained, false
//     when not; no other name or scope touched; waiters, Fresh ones beside
//     a retained event included, still get the next signal; counted in
//     Stats.Cleared and the identity above.
//   - List (List/...): the caller's scope only; per name its waiters (a
//     wait on several names counts on each), retained event, Seq,
//     SignaledAt and Size (the length of the data's JSON encoding);
//     ScopeStats totals; bytewise order; pages that follow Next visit
//     every name exactly once for any limit; After a name the scope does
//     not hold; limit 0 is DefaultListLimit, above MaxListLimit is
//     MaxListLimit, negative is ErrBadListLimit (1,001 names); a name that
//     holds nothing is absent.
//   - Timeout (Timeout/...): every form of Wait (Fresh, Or, both) and
//     Registration.Wait whose deadline passes returns an error that
//     errors.Is context.DeadlineExceeded, one cancelled context.Canceled,
//     and leaves no waiter.
//   - Event metadata (Event/SeqAndSignaledAt): Event.Seq equals
//     Receipt.Seq and Event.SignaledAt lies within the Signal call (up to
//     20 ms of clock granularity) on every path: fanned out, retained,
//     through Or, through a Registration.
//
// The suite never sleeps to let things settle: it polls Factory.Waiters
// (or Stats) until the state it needs holds, within a bound, so that a
// hang is a failure, not a stuck test.
package eventcoordtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// Factory is one fresh backend, opened for one subtest by the function
// given to [TestEvents]: no scope of it holds any state when it is
// returned, and it is released by the subtest's cleanups. The suite calls
// Scope and Peer from the subtest's goroutine only; the Events they return
// are used from many goroutines.
type Factory struct {
	// Scope returns the Events of the scope id (required). The same id
	// always reaches the same scope, different ids unrelated ones (S8).
	// The suite uses non-empty ids of ASCII letters, digits and ':'.
	Scope func(id string) eventcoord.Events

	// Peer returns the Events of the scope id through another handle onto
	// the same backend, as another process would have one: another Bus on
	// the same Redis, another client of the same server (optional; nil
	// where the backend has no such notion).
	Peer func(id string) eventcoord.Events

	// Waiters returns how many waits are registered in the whole backend
	// now, so that a signal sent from any handle would reach them
	// (required). A wait on several names (Or) counts once per name, as
	// Stats.Waiters and NameState.Waiters count it. The suite polls it to
	// know waiters are in place.
	Waiters func() int

	// Stats returns the backend's counters (optional). When the backend is
	// idle, Signals = Delivered + Retained + Expired + Replaced + Evicted +
	// Cleared must hold, Waiters and Names must be zero with no wait in
	// progress. Only these fields are checked; Woken is left out, as a
	// backend may count it per handle.
	Stats func() eventcoord.Stats

	// Close closes the handle behind Scope (optional): blocked waits
	// return ErrClosed and later calls too. Leave it nil where no such
	// close exists.
	Close func() error

	// Known lists the parts of the suite (by their names under TestEvents,
	// such as "S7/InvalidName/empty") that the backend is known to fail,
	// each with what differs. They are skipped with that reason, so that a
	// difference stays in sight in every run until it is fixed.
	Known map[string]string
}

// Timeouts of the suite: bounds that turn a hang into a failure, never
// delays to let something happen.
const (
	settle   = 30 * time.Second // for the backend to reach a state polled for
	prompt   = 10 * time.Second // for a Wait to return once it should
	waitSpan = time.Minute      // the context of the suite's waits
)

// TestEvents runs the conformance suite, each part as a subtest with a
// Factory from open.
func TestEvents(t *testing.T, open func(t *testing.T) Factory) {
	type test struct {
		name string
		run  func(*testing.T, Factory)
	}
	tests := []test{
		{"S1/FanOut", testFanOut},
		{"S2/Retention", testRetention},
		{"S2/LatestWins", testLatestWins},
		{"S3/NothingLost", testNothingLost},
		{"S3/LeftWaiterIsNotWoken", testLeftWaiterIsNotWoken},
		{"S4/Cancel", testCancel},
		{"S4/Deadline", testDeadline},
		{"S4/DoneContextConsumesNothing", testDoneContext},
		{"S5/Close", testClose},
		{"S5/CloseRaces/Waits", testCloseRacesWaits},
		{"S5/CloseRaces/Signals", testCloseRacesSignals},
		{"S6/Order", testOrder},
		{"S7/InvalidName/empty", testInvalidName},
		{"S7/InvalidName/too-long", testInvalidName},
		{"S7/InvalidName/not-UTF-8", testInvalidName},
		{"S7/DataRequired", testDataRequired},
		{"S7/Limits", testLimits},
		{"S8/Scopes", testScopes},
		{"S9/Data", testData},
		{"Poll", testPoll},
		{"Register/ThenSignal", testRegisterThenSignal},
		{"Register/TakesRetained", testRegisterTakesRetained},
		{"Register/CancelLeavesNothing", testRegisterCancelLeavesNothing},
		{"Register/CancelGivesBack", testRegisterCancelGivesBack},
		{"Register/EndedContext", testRegisterEndedContext},
		{"Fresh/LeavesRetainedAlone", testFreshLeavesRetainedAlone},
		{"Fresh/Register", testFreshRegister},
		{"Fresh/BesidePlain", testFreshBesidePlain},
		{"Fresh/GiveBack", testFreshGiveBack},
		{"Or/FirstEvent", testOrFirstEvent},
		{"Or/TakesRetained", testOrTakesRetained},
		{"Or/ConcurrentSignals", testOrConcurrentSignals},
		{"Or/Duplicates", testOrDuplicates},
		{"Or/TooManyNames", testOrTooManyNames},
		{"Or/Fresh", testOrFresh},
		{"Or/Register", testOrRegister},
		{"Clear/Retained", testClearRetained},
		{"Clear/LeavesWaiters", testClearLeavesWaiters},
		{"List/Scope", testListScope},
		{"List/States", testListStates},
		{"List/Pages", testListPages},
		{"List/Limits", testListLimits},
		{"List/Idle", testListIdle},
		{"Timeout/Wait", testTimeoutWait},
		{"Timeout/Registration", testTimeoutRegistration},
		{"Event/SeqAndSignaledAt", testEventMetadata},
		{"Decode/Numbers", testDecodeNumbers},
		{"Decode/DataOf", testDataOf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := open(t)
			for part := range f.Known {
				if !slices.ContainsFunc(tests, func(tc test) bool { return tc.name == part }) {
					t.Errorf("Factory.Known names %q, which is no part of the suite", part)
				}
			}
			if why, ok := f.Known[tc.name]; ok {
				t.Skipf("KNOWN DIFFERENCE, skipped: %s", why)
			}
			require.NotNil(t, f.Scope, "Factory.Scope is required")
			require.NotNil(t, f.Waiters, "Factory.Waiters is required")
			tc.run(t, f)
		})
	}
}

// handles returns the Events of scope id on every handle of f.
func (f Factory) handles(id string) []eventcoord.Events {
	hs := []eventcoord.Events{f.Scope(id)}
	if f.Peer != nil {
		hs = append(hs, f.Peer(id))
	}
	return hs
}

// result is what a Wait returned.
type result struct {
	ev  eventcoord.Event
	err error
}

// waits runs Waits for a subtest and joins them before it ends.
type waits struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWaits(t *testing.T) *waits {
	ctx, cancel := context.WithTimeout(context.Background(), waitSpan)
	w := &waits{t: t, ctx: ctx, cancel: cancel}
	t.Cleanup(func() { cancel(); w.wg.Wait() }) // before the Factory's cleanups
	return w
}

// start runs Wait(ctx, name, opts...) on e in a goroutine (w.ctx is the
// subtest's context). Its result arrives on the returned channel.
func (w *waits) start(ctx context.Context, e eventcoord.Events, name string, opts ...eventcoord.WaitOption) <-chan result {
	ch := make(chan result, 1)
	w.wg.Go(func() {
		ev, err := e.Wait(ctx, name, opts...)
		ch <- result{ev, err}
	})
	return ch
}

// receive returns the result of a Wait started by start, failing the test
// if it does not come within the prompt bound.
func receive(t *testing.T, ch <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(prompt):
		t.Fatalf("%s: Wait did not return within %v", what, prompt)
		return result{}
	}
}

// eventually polls cond until it holds, failing the test after settle.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(settle)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting until %s", settle, what)
		}
		<-tick.C
	}
}

// awaitWaiters polls until n waits are registered in the backend.
func awaitWaiters(t *testing.T, f Factory, n int) {
	t.Helper()
	var got int
	eventually(t, fmt.Sprintf("%d waiters are registered", n), func() bool {
		got = f.Waiters()
		return got == n
	})
}

// idle polls until the backend holds no wait, and with Stats, until its
// counters add up: every accepted signal has one outcome.
func idle(t *testing.T, f Factory) {
	t.Helper()
	var s eventcoord.Stats
	eventually(t, "the backend is idle (no waiter; with Stats, every signal accounted for)", func() bool {
		if f.Waiters() != 0 {
			return false
		}
		if f.Stats == nil {
			return true
		}
		s = f.Stats()
		return s.Waiters == 0 && balanced(s)
	})
}

// balanced reports whether every accepted signal has exactly one outcome.
func balanced(s eventcoord.Stats) bool {
	return s.Signals == s.Delivered+uint64(s.Retained)+s.Expired+s.Replaced+s.Evicted+s.Cleared
}

// ctx returns a context for one call, ended with the subtest.
func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitSpan)
	t.Cleanup(cancel)
	return ctx
}

func signal(t *testing.T, e eventcoord.Events, name string, data eventcoord.Data) eventcoord.Receipt {
	t.Helper()
	r, err := e.Signal(ctx(t), name, data)
	require.NoError(t, err, "Signal(ctx, %q, %v)", name, data)
	require.NotZero(t, r.Seq, "Signal(ctx, %q): Receipt.Seq", name)
	return r
}

// take returns the event retained for name, through Poll.
func take(t *testing.T, e eventcoord.Events, name string) eventcoord.Event {
	t.Helper()
	ev, err := e.Poll(ctx(t), name)
	require.NoError(t, err, "Poll(ctx, %q) of a retained event", name)
	return ev
}

// assertNothingRetained checks that no event is retained for name and that
// looking changed nothing.
func assertNothingRetained(t *testing.T, e eventcoord.Events, name string) {
	t.Helper()
	ev, err := e.Poll(ctx(t), name)
	if err == nil {
		t.Fatalf("%q: found retained %+v; want nothing retained", name, ev)
	}
	require.ErrorIs(t, err, eventcoord.ErrNoEvent, "Poll(ctx, %q)", name)
}

// tryTake takes the event retained for name, if there is one.
func tryTake(t *testing.T, e eventcoord.Events, name string) (eventcoord.Event, bool) {
	t.Helper()
	ev, err := e.Poll(ctx(t), name)
	if errors.Is(err, eventcoord.ErrNoEvent) {
		return eventcoord.Event{}, false
	}
	require.NoError(t, err, "Poll(ctx, %q)", name)
	return ev, true
}

func testFanOut(t *testing.T, f Factory) {
	const perHandle = 3
	w := newWaits(t)
	hs := f.handles("fan")
	var chans []<-chan result
	for _, h := range hs {
		for range perHandle {
			chans = append(chans, w.start(w.ctx, h, "mfa_code"))
		}
	}
	n := len(chans)
	awaitWaiters(t, f, n)
	data := eventcoord.Data{"code": "123456", "ok": true}
	r := signal(t, hs[len(hs)-1], "mfa_code", data) // from the last handle: across processes if there are two
	assert.Equal(t, n, r.Woken, "Receipt.Woken of a signal with %d waiters", n)
	assert.False(t, r.Retained, "Receipt.Retained of a signal with waiters")
	for i, ch := range chans {
		got := receive(t, ch, fmt.Sprintf("waiter %d", i))
		require.NoError(t, got.err, "waiter %d: Wait(ctx, %q)", i, "mfa_code")
		assert.Equal(t, r.Seq, got.ev.Seq, "waiter %d: Event.Seq; want the Receipt's", i)
		assert.Equal(t, "mfa_code", got.ev.Name, "waiter %d: Event.Name", i)
		assert.Equal(t, data, got.ev.Data, "waiter %d: Event.Data", i)
	}
	for _, h := range hs { // delivered, so not retained: a later wait gets nothing
		assertNothingRetained(t, h, "mfa_code")
	}
	idle(t, f)
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, uint64(1), s.Signals, "Stats.Signals")
		assert.Equal(t, uint64(1), s.Delivered, "Stats.Delivered")
		assert.Zero(t, s.Retained, "Stats.Retained")
	}
}

func testRetention(t *testing.T, f Factory) {
	hs := f.handles("ret")
	signaler, waiter := hs[0], hs[len(hs)-1]
	r := signal(t, signaler, "approval", eventcoord.Data{"by": "alice"})
	assert.True(t, r.Retained, "Receipt.Retained of a signal nobody waits for")
	assert.Zero(t, r.Woken, "Receipt.Woken of a signal nobody waits for")

	ev := take(t, waiter, "approval")
	assert.Equal(t, r.Seq, ev.Seq, "retained Event.Seq")
	assert.Equal(t, eventcoord.Data{"by": "alice"}, ev.Data, "retained Event.Data")
	assert.Equal(t, "approval", ev.Name)

	// Consumed: the next waiter blocks until the next signal.
	w := newWaits(t)
	ch := w.start(w.ctx, signaler, "approval")
	awaitWaiters(t, f, 1)
	select {
	case got := <-ch:
		t.Fatalf("a second Wait returned %+v, %v; want it to block: the retained event goes to one waiter", got.ev, got.err)
	default:
	}
	r2 := signal(t, waiter, "approval", eventcoord.Data{"by": "bob"})
	assert.Equal(t, 1, r2.Woken)
	got := receive(t, ch, "the second waiter")
	require.NoError(t, got.err)
	assert.Equal(t, r2.Seq, got.ev.Seq)
	assert.Equal(t, eventcoord.Data{"by": "bob"}, got.ev.Data)
	idle(t, f)
}

func testLatestWins(t *testing.T, f Factory) {
	hs := f.handles("latest")
	r1 := signal(t, hs[0], "code", eventcoord.Data{"code": "old"})
	r2 := signal(t, hs[len(hs)-1], "code", eventcoord.Data{"code": "new"})
	assert.True(t, r1.Retained)
	assert.True(t, r2.Retained)
	ev := take(t, hs[0], "code")
	assert.Equal(t, r2.Seq, ev.Seq, "the retained event after two signals; want the newer")
	assert.Equal(t, eventcoord.Data{"code": "new"}, ev.Data)
	assertNothingRetained(t, hs[0], "code")
	idle(t, f)
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, uint64(2), s.Signals, "Stats.Signals")
		assert.Equal(t, uint64(1), s.Replaced, "Stats.Replaced")
		assert.Equal(t, uint64(1), s.Delivered, "Stats.Delivered")
	}
}

// testNothingLost races signalers against waiters on one name, then
// accounts for every accepted signal (S3).
func testNothingLost(t *testing.T, f Factory) {
	const (
		signalers = 3
		perSigner = 6
		waiters   = 6
		name      = "race"
	)
	hs := f.handles("race")
	w := newWaits(t)
	var results []<-chan result
	for i := range waiters {
		results = append(results, w.start(w.ctx, hs[i%len(hs)], name))
	}
	type signaled struct {
		r   eventcoord.Receipt
		tag string
	}
	var (
		mu   sync.Mutex
		sent []signaled
	)
	var sg sync.WaitGroup
	for s := range signalers {
		h := hs[s%len(hs)]
		sg.Go(func() {
			for i := range perSigner {
				tag := fmt.Sprintf("%d.%d", s, i)
				r, err := h.Signal(w.ctx, name, eventcoord.Data{"tag": tag})
				if !assert.NoError(t, err, "Signal(ctx, %q) in the race", name) {
					return
				}
				mu.Lock()
				sent = append(sent, signaled{r, tag})
				mu.Unlock()
			}
		})
	}
	sg.Wait()
	require.Len(t, sent, signalers*perSigner, "accepted signals")

	// Waiters still blocked get one final signal each time some are
	// registered, until every waiter has returned.
	var got []result
	pending := slices.Clone(results)
	for len(pending) > 0 {
		eventually(t, "a waiter returns or is registered", func() bool {
			for _, ch := range pending {
				if len(ch) > 0 {
					return true
				}
			}
			return f.Waiters() > 0
		})
		next := pending[:0]
		for _, ch := range pending {
			select {
			case r := <-ch:
				got = append(got, r)
			default:
				next = append(next, ch)
			}
		}
		pending = next
		if len(got) == waiters || f.Waiters() == 0 {
			continue
		}
		tag := fmt.Sprintf("final.%d", len(sent))
		r := signal(t, hs[0], name, eventcoord.Data{"tag": tag})
		sent = append(sent, signaled{r, tag})
	}

	// Whatever is left retained is taken too.
	var drained []eventcoord.Event
	idle(t, f)
	if ev, ok := tryTake(t, hs[0], name); ok {
		drained = append(drained, ev)
	}

	bySeq := map[uint64]signaled{}
	var last uint64
	for _, s := range sent {
		_, dup := bySeq[s.r.Seq]
		require.False(t, dup, "two accepted signals with Seq %d", s.r.Seq)
		bySeq[s.r.Seq] = s
		last = max(last, s.r.Seq)
	}
	returns := map[uint64]int{} // Seq -> waiters that returned it
	for i, r := range got {
		require.NoError(t, r.err, "waiter %d in the race", i)
		s, ok := bySeq[r.ev.Seq]
		require.True(t, ok, "waiter %d returned Seq %d, which no Signal accepted", i, r.ev.Seq)
		assert.Equal(t, eventcoord.Data{"tag": s.tag}, r.ev.Data, "waiter %d: the data of Seq %d", i, r.ev.Seq)
		returns[r.ev.Seq]++
	}
	taken := map[uint64]bool{}
	for seq := range returns {
		taken[seq] = true
	}
	for _, ev := range drained {
		s, ok := bySeq[ev.Seq]
		require.True(t, ok, "the retained event has Seq %d, which no Signal accepted", ev.Seq)
		assert.Equal(t, eventcoord.Data{"tag": s.tag}, ev.Data)
		assert.False(t, taken[ev.Seq], "Seq %d both returned by a waiter and still retained", ev.Seq)
		taken[ev.Seq] = true
	}
	assert.True(t, taken[last], "the last signal (Seq %d) was neither returned by a waiter nor retained: lost", last)
	for seq, s := range bySeq {
		if s.r.Woken > 0 {
			assert.Equal(t, s.r.Woken, returns[seq], "Seq %d: Receipt.Woken vs the waiters that returned it", seq)
		}
	}
	if f.Stats != nil {
		idle(t, f)
		st := f.Stats()
		assert.Equal(t, uint64(len(sent)), st.Signals, "Stats.Signals")
		assert.Equal(t, uint64(len(taken)), st.Delivered, "Stats.Delivered; want the events taken")
		assert.Zero(t, st.Retained, "Stats.Retained after draining")
		assert.Zero(t, st.Expired+st.Evicted, "Stats.Expired+Evicted")
		assert.Equal(t, uint64(len(sent)-len(taken)), st.Replaced, "Stats.Replaced")
	}
}

func testLeftWaiterIsNotWoken(t *testing.T, f Factory) {
	e := f.Scope("left")
	w := newWaits(t)
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := w.start(c, e, "x")
	awaitWaiters(t, f, 1)
	cancel()
	got := receive(t, ch, "a cancelled Wait")
	require.ErrorIs(t, got.err, context.Canceled)
	idle(t, f)
	r := signal(t, e, "x", eventcoord.Data{"v": "after"})
	assert.Zero(t, r.Woken, "Receipt.Woken after the only waiter left")
	assert.True(t, r.Retained, "Receipt.Retained after the only waiter left")
	ev := take(t, e, "x")
	assert.Equal(t, r.Seq, ev.Seq)
}

func testCancel(t *testing.T, f Factory) {
	e := f.Scope("cancel")
	w := newWaits(t)
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := w.start(c, e, "never")
	awaitWaiters(t, f, 1)
	cancel()
	got := receive(t, ch, "a cancelled Wait")
	assert.ErrorIs(t, got.err, context.Canceled, "Wait(ctx, %q) after cancel", "never")
	assert.Equal(t, eventcoord.Event{}, got.ev)
	assertLeftNothing(t, f)
}

func testDeadline(t *testing.T, f Factory) {
	e := f.Scope("deadline")
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Wait(c, "never")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Wait(ctx, %q) past its deadline", "never")
	assert.Less(t, time.Since(start), prompt, "Wait past its deadline returned late")
	assertLeftNothing(t, f)
}

// assertLeftNothing checks S4's "leaves nothing behind".
func assertLeftNothing(t *testing.T, f Factory) {
	t.Helper()
	idle(t, f)
	if f.Stats != nil {
		eventually(t, "no name holds state", func() bool { return f.Stats().Names == 0 })
	}
}

func testDoneContext(t *testing.T, f Factory) {
	e := f.Scope("done")
	r := signal(t, e, "x", eventcoord.Data{"v": "kept"})
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Wait(c, "x")
	assert.ErrorIs(t, err, context.Canceled, "Wait with a done context")
	ev := take(t, e, "x")
	assert.Equal(t, r.Seq, ev.Seq, "the retained event after a Wait with a done context")
	idle(t, f)
}

func testClose(t *testing.T, f Factory) {
	if f.Close == nil {
		t.Skip("the Factory cannot close its backend")
	}
	e := f.Scope("close")
	w := newWaits(t)
	var chans []<-chan result
	for range 3 {
		chans = append(chans, w.start(w.ctx, e, "x"))
	}
	awaitWaiters(t, f, len(chans))
	require.NoError(t, f.Close(), "Close")
	for i, ch := range chans {
		got := receive(t, ch, fmt.Sprintf("waiter %d after Close", i))
		assert.ErrorIs(t, got.err, eventcoord.ErrClosed, "waiter %d: Wait after Close", i)
	}
	_, err := e.Signal(ctx(t), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "Signal after Close")
	_, err = e.Wait(ctx(t), "x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "Wait after Close")
	_, err = e.Poll(ctx(t), "x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "Poll after Close")
	_, err = e.Register(ctx(t), "x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "Register after Close")
	_, err = e.Clear(ctx(t), "x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "Clear after Close")
	_, err = e.List(ctx(t), eventcoord.ListOptions{})
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "List after Close")
	assert.NoError(t, f.Close(), "a second Close")
}

// closeRace skips unless f can close its backend, and starts four waits
// on two names of a fresh scope, for Close to race with.
func closeRace(t *testing.T, f Factory) (eventcoord.Events, *waits, []<-chan result) {
	t.Helper()
	if f.Close == nil {
		t.Skip("the Factory cannot close its backend")
	}
	e := f.Scope("closerace")
	w := newWaits(t)
	var chans []<-chan result
	for i := range 4 {
		chans = append(chans, w.start(w.ctx, e, fmt.Sprintf("n%d", i%2)))
	}
	return e, w, chans
}

// testCloseRacesWaits closes the backend twice at once while waits start:
// every wait returns ErrClosed.
func testCloseRacesWaits(t *testing.T, f Factory) {
	e, _, chans := closeRace(t, f)
	var g sync.WaitGroup
	g.Go(func() { assert.NoError(t, f.Close(), "Close racing with waits") })
	g.Go(func() { assert.NoError(t, f.Close(), "a concurrent Close") })
	g.Wait()
	for i, ch := range chans {
		got := receive(t, ch, fmt.Sprintf("waiter %d racing with Close", i))
		assert.ErrorIs(t, got.err, eventcoord.ErrClosed, "waiter %d racing with Close", i)
	}
	_, err := e.Wait(ctx(t), "n0")
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "Wait after Close")
}

// testCloseRacesSignals closes the backend while signals run and waiters
// wait: each signal is accepted or returns ErrClosed, and each wait
// returns an event or ErrClosed.
func testCloseRacesSignals(t *testing.T, f Factory) {
	e, w, chans := closeRace(t, f)
	var g sync.WaitGroup
	for i := range 2 {
		g.Go(func() {
			for j := range 20 {
				_, err := e.Signal(w.ctx, fmt.Sprintf("n%d", (i+j)%2), eventcoord.Data{"j": fmt.Sprint(j)})
				if err != nil {
					assert.ErrorIs(t, err, eventcoord.ErrClosed, "Signal racing with Close")
					return
				}
			}
		})
	}
	g.Go(func() { assert.NoError(t, f.Close(), "Close racing with signals") })
	g.Wait()
	for i, ch := range chans {
		got := receive(t, ch, fmt.Sprintf("waiter %d racing with Close", i))
		if got.err != nil {
			assert.ErrorIs(t, got.err, eventcoord.ErrClosed, "waiter %d racing with Close", i)
		}
	}
	_, err := e.Signal(ctx(t), "n0", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrClosed, "Signal after Close")
}

func testOrder(t *testing.T, f Factory) {
	var hs []eventcoord.Events
	for _, id := range []string{"o1", "o2"} {
		hs = append(hs, f.handles(id)...)
	}
	var last uint64
	for i := range 8 {
		r := signal(t, hs[i%len(hs)], fmt.Sprintf("n%d", i%3), eventcoord.Data{"i": fmt.Sprint(i)})
		assert.Greater(t, r.Seq, last, "signal %d: Seq must grow strictly", i)
		last = r.Seq
	}

	// Only the retained event, and nothing older, goes to a later waiter.
	e := f.Scope("order")
	signal(t, e, "x", eventcoord.Data{"v": "1"})
	r2 := signal(t, e, "x", eventcoord.Data{"v": "2"})
	ev := take(t, e, "x")
	assert.Equal(t, r2.Seq, ev.Seq, "the retained event")
	w := newWaits(t)
	ch := w.start(w.ctx, e, "x")
	awaitWaiters(t, f, 1)
	r3 := signal(t, e, "x", eventcoord.Data{"v": "3"})
	got := receive(t, ch, "a waiter registered after two signals")
	require.NoError(t, got.err)
	assert.Equal(t, r3.Seq, got.ev.Seq, "a waiter got an event signaled before it registered")
	assert.Equal(t, eventcoord.Data{"v": "3"}, got.ev.Data)
	assert.Greater(t, r3.Seq, r2.Seq)
	idle(t, f)
}

// badNames are the invalid names of S7, by the subtest that checks each.
var badNames = map[string]string{
	"empty":     "",
	"too-long":  strings.Repeat("n", eventcoord.MaxNameLen+1),
	"not-UTF-8": "bad\xff",
}

// testInvalidName checks that the name the subtest is named after is an
// error that errors.Is ErrInvalidName and errors.As a *NameError with a
// reason, from every method that takes a name (also among the names of an
// any-of wait), and that none of them changes anything.
func testInvalidName(t *testing.T, f Factory) {
	name := badNames[t.Name()[strings.LastIndexByte(t.Name(), '/')+1:]]
	e := f.Scope("valid")
	kept := signal(t, e, "kept", eventcoord.Data{"v": "kept"})
	before := statsWhenIdle(t, f)
	check := func(err error, call string) {
		t.Helper()
		if !assert.ErrorIs(t, err, eventcoord.ErrInvalidName, "%s with the name %q", call, name) {
			return
		}
		var ne *eventcoord.NameError
		if assert.ErrorAs(t, err, &ne, "%s with the name %q", call, name) {
			assert.NotEmpty(t, ne.Reason, "%s with the name %q: NameError.Reason", call, name)
		}
	}
	_, err := e.Signal(ctx(t), name, eventcoord.Data{"v": "x"})
	check(err, "Signal")
	_, err = e.Signal(ctx(t), name, nil)
	assert.Error(t, err, "Signal(ctx, %q, nil)", name)
	c, cancel := context.WithTimeout(context.Background(), prompt)
	defer cancel()
	_, err = e.Wait(c, name)
	check(err, "Wait")
	_, err = e.Wait(c, "kept", eventcoord.Or("other", name))
	check(err, "Wait(kept, Or(other, bad))")
	_, err = e.Wait(c, "kept", eventcoord.Or(name), eventcoord.Fresh())
	check(err, "Wait(kept, Or(bad), Fresh())")
	reg, err := e.Register(c, name)
	check(err, "Register")
	assert.Nil(t, reg, "the Registration of a failed Register")
	_, err = e.Register(c, "kept", eventcoord.Or(name))
	check(err, "Register(kept, Or(bad))")
	_, err = e.Poll(ctx(t), name)
	check(err, "Poll")
	_, err = e.Clear(ctx(t), name)
	check(err, "Clear")
	assertUnchanged(t, f, e, before, "kept", kept)
}

func testDataRequired(t *testing.T, f Factory) {
	e := f.Scope("valid")
	kept := signal(t, e, "kept", eventcoord.Data{"v": "kept"})
	before := statsWhenIdle(t, f)
	_, err := e.Signal(ctx(t), "kept", nil)
	assert.ErrorIs(t, err, eventcoord.ErrDataRequired, "Signal(ctx, %q, nil)", "kept")
	_, err = e.Signal(ctx(t), "other", nil)
	assert.ErrorIs(t, err, eventcoord.ErrDataRequired, "Signal(ctx, %q, nil)", "other")
	assertUnchanged(t, f, e, before, "kept", kept)
	assertNothingRetained(t, e, "other")
}

// statsWhenIdle returns the Stats once the backend is idle, if it has any.
func statsWhenIdle(t *testing.T, f Factory) eventcoord.Stats {
	t.Helper()
	if f.Stats == nil {
		return eventcoord.Stats{}
	}
	idle(t, f)
	return f.Stats()
}

// assertUnchanged checks that invalid calls changed nothing: no waiter,
// no signal counted, and the event kept before on name is still retained.
func assertUnchanged(t *testing.T, f Factory, e eventcoord.Events, before eventcoord.Stats, name string, kept eventcoord.Receipt) {
	t.Helper()
	assert.Zero(t, f.Waiters(), "waiters after invalid calls")
	if f.Stats != nil {
		after := statsWhenIdle(t, f)
		assert.Equal(t, before.Signals, after.Signals, "Stats.Signals after invalid calls")
		assert.Equal(t, before.Retained, after.Retained, "Stats.Retained after invalid calls")
		assert.Equal(t, before.Delivered, after.Delivered, "Stats.Delivered after invalid calls")
		assert.Equal(t, before.Cleared, after.Cleared, "Stats.Cleared after invalid calls")
	}
	ev := take(t, e, name)
	assert.Equal(t, kept.Seq, ev.Seq, "the retained event after invalid calls")
	assert.Equal(t, eventcoord.Data{"v": "kept"}, ev.Data)
	idle(t, f)
}

// testLimits checks that the longest name and an empty payload are fine.
func testLimits(t *testing.T, f Factory) {
	e := f.Scope("valid")
	long := strings.Repeat("é", eventcoord.MaxNameLen/2)
	r := signal(t, e, long, eventcoord.Data{})
	ev := take(t, e, long)
	assert.Equal(t, r.Seq, ev.Seq, "the event of a %d-byte name", len(long))
	assert.Equal(t, long, ev.Name)
	assert.Equal(t, eventcoord.Data{}, ev.Data, "an empty payload")
	idle(t, f)
}

func testScopes(t *testing.T, f Factory) {
	// Pairs of scope and name that joining with ':' would confuse.
	type place struct{ scope, name string }
	places := []place{{"a", "x"}, {"b", "x"}, {"a:b", "x"}, {"a", "b:x"}, {"1:a", "x"}, {"a", "1:a:x"}}
	receipts := map[place]eventcoord.Receipt{}
	for _, p := range places {
		r := signal(t, f.Scope(p.scope), p.name, eventcoord.Data{"at": p.scope + "|" + p.name})
		assert.True(t, r.Retained, "Receipt.Retained in scope %q name %q: another place's event was there", p.scope, p.name)
		receipts[p] = r
	}
	// A waiter in one scope is not woken by the same name in another.
	w := newWaits(t)
	ch := w.start(w.ctx, f.Scope("c"), "x")
	awaitWaiters(t, f, 1)
	r := signal(t, f.Scope("a"), "x", eventcoord.Data{"at": "a|x"})
	assert.Zero(t, r.Woken, "a signal in scope a woke a waiter of scope c")
	receipts[place{"a", "x"}] = r
	rc := signal(t, f.Scope("c"), "x", eventcoord.Data{"at": "c|x"})
	assert.Equal(t, 1, rc.Woken)
	got := receive(t, ch, "the waiter of scope c")
	require.NoError(t, got.err)
	assert.Equal(t, eventcoord.Data{"at": "c|x"}, got.ev.Data)

	for _, p := range places {
		e := f.Scope(p.scope)
		if f.Peer != nil {
			e = f.Peer(p.scope)
		}
		ev := take(t, e, p.name)
		assert.Equal(t, receipts[p].Seq, ev.Seq, "scope %q name %q", p.scope, p.name)
		assert.Equal(t, eventcoord.Data{"at": p.scope + "|" + p.name}, ev.Data, "scope %q name %q", p.scope, p.name)
	}
	idle(t, f)
}

func testData(t *testing.T, f Factory) {
	data := eventcoord.Data{
		"s":      "text with \"quotes\", \\ and ünïcode",
		"yes":    true,
		"no":     false,
		"null":   nil,
		"nested": map[string]any{"list": []any{"a", true, nil, map[string]any{"deep": "x"}}, "empty": map[string]any{}},
		"list":   []any{},
	}
	hs := f.handles("data")
	w := newWaits(t)
	var chans []<-chan result
	for i := range 4 {
		chans = append(chans, w.start(w.ctx, hs[i%len(hs)], "payload"))
	}
	awaitWaiters(t, f, len(chans))
	r := signal(t, hs[0], "payload", data)
	for i, ch := range chans {
		got := receive(t, ch, fmt.Sprintf("waiter %d", i))
		require.NoError(t, got.err)
		assert.Equal(t, r.Seq, got.ev.Seq)
		assert.Equal(t, data, got.ev.Data, "waiter %d: the data of the signal", i)
	}
	// Retained, the same data comes back.
	r = signal(t, hs[0], "payload", data)
	ev := take(t, hs[len(hs)-1], "payload")
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, data, ev.Data, "the data of a retained event")
	idle(t, f)
}

func testPoll(t *testing.T, f Factory) {
	e := f.Scope("poll")
	_, err := e.Poll(ctx(t), "x")
	require.ErrorIs(t, err, eventcoord.ErrNoEvent, "Poll with nothing retained")
	assert.Zero(t, f.Waiters(), "waiters after a Poll that found nothing")
	r := signal(t, e, "x", eventcoord.Data{"v": "1"})
	assert.True(t, r.Retained, "Receipt.Retained after a Poll that found nothing: it must register nothing")
	ev, err := e.Poll(ctx(t), "x")
	require.NoError(t, err, "Poll of a retained event")
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, "x", ev.Name)
	_, err = e.Poll(ctx(t), "x")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "a second Poll: the first consumed the event")
	_, err = e.Poll(ctx(t), "bad\xff")
	assert.ErrorIs(t, err, eventcoord.ErrInvalidName, "Poll with a name that is not UTF-8")
	if f.Peer != nil { // retained through one handle, polled through another
		r = signal(t, f.Peer("poll"), "y", eventcoord.Data{"v": "2"})
		ev = take(t, e, "y")
		assert.Equal(t, r.Seq, ev.Seq)
	}
	idle(t, f)
}
