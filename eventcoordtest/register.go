package eventcoordtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// register registers a wait on name with opts on e, cancelled when the
// subtest ends (before the Factory's cleanups).
func register(t *testing.T, e eventcoord.Events, name string, opts ...eventcoord.WaitOption) eventcoord.Registration {
	t.Helper()
	r, err := e.Register(ctx(t), name, opts...)
	require.NoError(t, err, "Register(ctx, %q)", name)
	require.NotNil(t, r, "Register(ctx, %q): the Registration", name)
	t.Cleanup(r.Cancel)
	return r
}

// isDone reports whether r's Done channel is closed, without blocking.
func isDone(r eventcoord.Registration) bool {
	select {
	case <-r.Done():
		return true
	default:
		return false
	}
}

// awaitDone fails the test unless r's Done channel closes promptly.
func awaitDone(t *testing.T, r eventcoord.Registration, what string) {
	t.Helper()
	select {
	case <-r.Done():
	case <-time.After(prompt):
		t.Fatalf("%s: Done was not closed within %v", what, prompt)
	}
}

// waitFor returns r's event, which must come promptly.
func waitFor(t *testing.T, r eventcoord.Registration, what string) eventcoord.Event {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), prompt)
	defer cancel()
	ev, err := r.Wait(c)
	require.NoError(t, err, "%s: Registration.Wait", what)
	return ev
}

// doneCtx returns a context that is already cancelled.
func doneCtx() context.Context {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	return c
}

// testRegisterThenSignal registers on every handle, then signals from each
// handle in turn: a signal sent any time after Register returned reaches
// every Registration, with no polling for waiters in between (S1).
func testRegisterThenSignal(t *testing.T, f Factory) {
	hs := f.handles("reg")
	for i, from := range hs {
		var regs []eventcoord.Registration
		for _, h := range hs {
			for range 2 {
				regs = append(regs, register(t, h, "go"))
			}
		}
		for j, r := range regs {
			assert.False(t, isDone(r), "round %d: Registration %d is Done before any signal", i, j)
		}
		data := eventcoord.Data{"round": fmt.Sprint(i)}
		rc := signal(t, from, "go", data)
		assert.Equal(t, len(regs), rc.Woken, "round %d: Receipt.Woken of a signal after %d Registers", i, len(regs))
		assert.False(t, rc.Retained, "round %d: Receipt.Retained", i)
		for j, r := range regs {
			what := fmt.Sprintf("round %d, Registration %d", i, j)
			awaitDone(t, r, what)
			ev := waitFor(t, r, what)
			assert.Equal(t, rc.Seq, ev.Seq, "%s: Event.Seq; want the Receipt's", what)
			assert.Equal(t, "go", ev.Name, "%s: Event.Name", what)
			assert.Equal(t, data, ev.Data, "%s: Event.Data", what)
			again := waitFor(t, r, what+", a second Wait")
			assert.Equal(t, ev.Seq, again.Seq, "%s: a second Wait returns the same event", what)
			r.Cancel() // after the event was returned: changes nothing
		}
		assertNothingRetained(t, hs[0], "go")
	}
	idle(t, f)
}

// testRegisterTakesRetained checks that Register takes a retained event at
// once (Done already closed) and consumes it.
func testRegisterTakesRetained(t *testing.T, f Factory) {
	hs := f.handles("regret")
	rc := signal(t, hs[0], "x", eventcoord.Data{"v": "early"})
	r := register(t, hs[len(hs)-1], "x")
	awaitDone(t, r, "a Registration made after a retained signal")
	ev := waitFor(t, r, "a Registration made after a retained signal")
	assert.Equal(t, rc.Seq, ev.Seq)
	assert.Equal(t, eventcoord.Data{"v": "early"}, ev.Data)
	assertNothingRetained(t, hs[0], "x")
	idle(t, f)
}

// testRegisterCancelLeavesNothing checks that a Registration cancelled
// before any signal leaves no waiter: a later signal is retained.
func testRegisterCancelLeavesNothing(t *testing.T, f Factory) {
	e := f.Scope("regcancel")
	r := register(t, e, "x")
	awaitWaiters(t, f, 1)
	r.Cancel()
	r.Cancel() // idempotent
	assertLeftNothing(t, f)
	rc := signal(t, e, "x", eventcoord.Data{"v": "after"})
	assert.Zero(t, rc.Woken, "Receipt.Woken after the only Registration was cancelled")
	assert.True(t, rc.Retained, "Receipt.Retained after the only Registration was cancelled")
	_, err := r.Wait(ctx(t))
	assert.ErrorIs(t, err, context.Canceled, "Registration.Wait after Cancel")
	assert.Equal(t, rc.Seq, take(t, e, "x").Seq)
	idle(t, f)
}

// testRegisterCancelGivesBack checks S3's give-back: a Registration
// cancelled while it holds an event it never returned, taken retained or
// delivered, gives it back, retained again with the same Seq.
func testRegisterCancelGivesBack(t *testing.T, f Factory) {
	hs := f.handles("giveback")
	e := hs[0]

	// An event that was retained, taken by Register.
	rc := signal(t, e, "retained", eventcoord.Data{"v": "1"})
	r := register(t, hs[len(hs)-1], "retained")
	awaitDone(t, r, "a Registration that took a retained event")
	r.Cancel()
	assert.Equal(t, rc.Seq, take(t, e, "retained").Seq, "the retained event given back by Cancel")

	// An event delivered to the Registration.
	r = register(t, hs[len(hs)-1], "delivered")
	rc = signal(t, e, "delivered", eventcoord.Data{"v": "2"})
	require.Equal(t, 1, rc.Woken, "Receipt.Woken of a signal after Register")
	awaitDone(t, r, "a Registration that was signaled")
	r.Cancel()
	ev := take(t, e, "delivered")
	assert.Equal(t, rc.Seq, ev.Seq, "the delivered event given back by Cancel")
	assert.Equal(t, eventcoord.Data{"v": "2"}, ev.Data)
	idle(t, f)
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, uint64(2), s.Signals, "Stats.Signals")
		assert.Equal(t, uint64(2), s.Delivered, "Stats.Delivered: each event counts once, by the Poll that took it")
	}
}

// testRegisterEndedContext checks Registration.Wait with a context that
// has ended: with no event it leaves as by Cancel (S4), and with an event
// that reached it already it returns the event (delivery wins, S3).
func testRegisterEndedContext(t *testing.T, f Factory) {
	e := f.Scope("regctx")
	r := register(t, e, "left")
	awaitWaiters(t, f, 1)
	_, err := r.Wait(doneCtx())
	assert.ErrorIs(t, err, context.Canceled, "Registration.Wait with a cancelled context and no event")
	assertLeftNothing(t, f)
	rc := signal(t, e, "left", eventcoord.Data{})
	assert.True(t, rc.Retained, "Receipt.Retained after the Registration left")
	assert.Zero(t, rc.Woken, "Receipt.Woken after the Registration left")
	_, err = r.Wait(ctx(t))
	assert.ErrorIs(t, err, context.Canceled, "a later Registration.Wait returns why it left")

	r = register(t, e, "won")
	rc = signal(t, e, "won", eventcoord.Data{"v": "won"})
	require.Equal(t, 1, rc.Woken, "Receipt.Woken of a signal after Register")
	ev, err := r.Wait(doneCtx())
	require.NoError(t, err, "Registration.Wait with a cancelled context after the event reached it")
	assert.Equal(t, rc.Seq, ev.Seq, "delivery wins")
	assertNothingRetained(t, e, "won")
	idle(t, f)
}
