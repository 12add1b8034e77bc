package eventcoordtest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// testTimeoutWait checks that every form of Wait whose deadline passes
// returns an error that is context.DeadlineExceeded, and one whose context
// is cancelled context.Canceled, leaving no waiter and the retained event
// it did not wait for alone.
func testTimeoutWait(t *testing.T, f Factory) {
	e := f.Scope("timeout")
	kept := signal(t, e, "retained", eventcoord.Data{})
	forms := []struct {
		what    string
		name    string
		opts    []eventcoord.WaitOption
		waiters int // registered while it waits
	}{
		{"Wait(x)", "x", nil, 1},
		{"Wait(x, Fresh())", "x", []eventcoord.WaitOption{eventcoord.Fresh()}, 1},
		{"Wait(retained, Fresh())", "retained", []eventcoord.WaitOption{eventcoord.Fresh()}, 1},
		{"Wait(x, Or(y))", "x", []eventcoord.WaitOption{eventcoord.Or("y")}, 2},
		{"Wait(x, Or(y, retained), Fresh())", "x", []eventcoord.WaitOption{eventcoord.Or("y", "retained"), eventcoord.Fresh()}, 3},
	}
	for _, form := range forms {
		c, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := e.Wait(c, form.name, form.opts...)
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%s past its deadline", form.what)
		idle(t, f)

		c, cancel = context.WithCancel(context.Background())
		w := newWaits(t)
		ch := w.start(c, e, form.name, form.opts...)
		awaitWaiters(t, f, form.waiters)
		cancel()
		assert.ErrorIs(t, receive(t, ch, form.what+" cancelled").err, context.Canceled, "%s cancelled", form.what)
		idle(t, f)
	}
	assert.Equal(t, kept.Seq, take(t, e, "retained").Seq, "the event the Fresh waits left alone")
	assertLeftNothing(t, f)
}

// testTimeoutRegistration checks the same of Registration.Wait; a later
// Wait on a Registration that left says why it left.
func testTimeoutRegistration(t *testing.T, f Factory) {
	e := f.Scope("regtimeout")
	for _, opts := range [][]eventcoord.WaitOption{nil, {eventcoord.Or("y"), eventcoord.Fresh()}} {
		r := register(t, e, "x", opts...)
		c, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := r.Wait(c)
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Registration.Wait past its deadline (%d options)", len(opts))
		_, err = r.Wait(ctx(t))
		assert.ErrorIs(t, err, context.DeadlineExceeded, "a later Registration.Wait (%d options)", len(opts))
		assertLeftNothing(t, f)

		r = register(t, e, "x", opts...)
		c, cancel = context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := r.Wait(c)
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled, "Registration.Wait cancelled (%d options)", len(opts))
		case <-time.After(prompt):
			t.Fatalf("a cancelled Registration.Wait did not return within %v", prompt)
		}
		assertLeftNothing(t, f)
	}
}

// testEventMetadata checks Event.Seq and Event.SignaledAt on every path an
// event takes: fanned out (on every handle), retained, through Or, through
// a Registration. SignaledAt lies within the Signal call that made it.
func testEventMetadata(t *testing.T, f Factory) {
	hs := f.handles("meta")
	w := newWaits(t)
	var chans []<-chan result
	for _, h := range hs {
		chans = append(chans, w.start(w.ctx, h, "fan"), w.start(w.ctx, h, "other", eventcoord.Or("fan")))
	}
	awaitWaiters(t, f, 3*len(hs))
	rc, from, to := signalWithin(t, hs[0], "fan", eventcoord.Data{})
	for i, ch := range chans {
		got := receive(t, ch, fmt.Sprintf("waiter %d", i))
		require.NoError(t, got.err)
		assert.Equal(t, rc.Seq, got.ev.Seq, "waiter %d: Event.Seq", i)
		assertWithin(t, got.ev.SignaledAt, from, to, fmt.Sprintf("waiter %d: Event.SignaledAt", i))
	}

	rc, from, to = signalWithin(t, hs[0], "kept", eventcoord.Data{})
	ev := take(t, hs[len(hs)-1], "kept")
	assert.Equal(t, rc.Seq, ev.Seq, "a retained event's Seq")
	assertWithin(t, ev.SignaledAt, from, to, "a retained event's SignaledAt")

	r := register(t, hs[len(hs)-1], "reg")
	rc, from, to = signalWithin(t, hs[0], "reg", eventcoord.Data{})
	ev = waitFor(t, r, "a Registration")
	assert.Equal(t, rc.Seq, ev.Seq, "a Registration's event's Seq")
	assertWithin(t, ev.SignaledAt, from, to, "a Registration's event's SignaledAt")
	idle(t, f)
}

// order is a typed payload with the numbers JSON makes hard: an integer,
// one beyond float64's precision, a fraction, nested ones.
type order struct {
	Amount int     `json:"amount"`
	Big    uint64  `json:"big"`
	Ratio  float64 `json:"ratio"`
	Nested struct {
		Counts []int `json:"counts"`
		Label  string
	} `json:"nested"`
}

// testDecodeNumbers checks S9 for numbers: an event signaled with Go
// numbers decodes into a typed struct identically on every backend, and
// into a map[string]any with every number a json.Number, delivered or
// retained.
func testDecodeNumbers(t *testing.T, f Factory) {
	hs := f.handles("numbers")
	data := eventcoord.Data{
		"amount": 42,
		"big":    uint64(12345678901234567890),
		"ratio":  1.5,
		"nested": map[string]any{"counts": []any{1, 2, 3}, "Label": "x"},
	}
	var want order
	want.Amount, want.Big, want.Ratio = 42, 12345678901234567890, 1.5
	want.Nested.Counts, want.Nested.Label = []int{1, 2, 3}, "x"
	wantMap := map[string]any{
		"amount": json.Number("42"),
		"big":    json.Number("12345678901234567890"),
		"ratio":  json.Number("1.5"),
		"nested": map[string]any{"counts": []any{json.Number("1"), json.Number("2"), json.Number("3")}, "Label": "x"},
	}
	check := func(ev eventcoord.Event, what string) {
		t.Helper()
		var got order
		if assert.NoError(t, ev.Decode(&got), "%s: Decode into a struct", what) {
			assert.Equal(t, want, got, "%s: Decode into a struct", what)
		}
		m, err := eventcoord.DecodeAs[map[string]any](ev)
		if assert.NoError(t, err, "%s: DecodeAs[map[string]any]", what) {
			assert.Equal(t, wantMap, m, "%s: DecodeAs[map[string]any]: numbers are json.Number", what)
		}
		var small struct{ Amount int8 }
		assert.NoError(t, ev.Decode(&small), "%s: Decode into a struct with fewer fields", what)
		var bad struct{ Ratio int }
		assert.Error(t, ev.Decode(&bad), "%s: Decode of 1.5 into an int", what)
	}

	w := newWaits(t)
	ch := w.start(w.ctx, hs[len(hs)-1], "order")
	awaitWaiters(t, f, 1)
	signal(t, hs[0], "order", data)
	got := receive(t, ch, "the waiter of order")
	require.NoError(t, got.err)
	check(got.ev, "delivered")

	signal(t, hs[0], "order", data)
	check(take(t, hs[len(hs)-1], "order"), "retained")
	idle(t, f)
}

// testDataOf checks the round trip DataOf, Signal, Wait, DecodeAs on every
// backend, and that the Data DataOf makes arrives unchanged: its numbers
// are json.Number in-process as they are after a trip over the wire.
func testDataOf(t *testing.T, f Factory) {
	hs := f.handles("dataof")
	var in order
	in.Amount, in.Big, in.Ratio = -7, 1<<63+1, 0.25
	in.Nested.Counts, in.Nested.Label = []int{}, "ü"
	d, err := eventcoord.DataOf(in)
	require.NoError(t, err, "DataOf(%+v)", in)
	rc := signal(t, hs[0], "typed", d)
	ev := take(t, hs[len(hs)-1], "typed")
	assert.Equal(t, rc.Seq, ev.Seq)
	out, err := eventcoord.DecodeAs[order](ev)
	require.NoError(t, err, "DecodeAs[order]")
	assert.Equal(t, in, out, "the round trip through DataOf and DecodeAs")
	assert.Equal(t, d, ev.Data, "the Data made by DataOf arrives as it was")
	assert.Equal(t, json.Number("-7"), ev.Data["amount"], "a number in Data made by DataOf")

	_, err = eventcoord.DataOf([]int{1})
	assert.Error(t, err, "DataOf of what is no JSON object")
	idle(t, f)
}
