package eventcoordtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// clockSlack allows for the granularity of the clocks and encodings a
// backend's SignaledAt goes through: a millisecond's precision passes.
const clockSlack = 20 * time.Millisecond

// list returns the page of e's scope that opts selects.
func list(t *testing.T, e eventcoord.Events, opts eventcoord.ListOptions) eventcoord.Listing {
	t.Helper()
	l, err := e.List(ctx(t), opts)
	require.NoError(t, err, "List(ctx, %+v)", opts)
	return l
}

// listAll reads every page of e's scope with the given limit, checking
// each page, and returns the names in the order the pages gave them.
func listAll(t *testing.T, e eventcoord.Events, limit int) []eventcoord.NameState {
	t.Helper()
	var all []eventcoord.NameState
	opts := eventcoord.ListOptions{Limit: limit}
	for page := 0; ; page++ {
		require.Less(t, page, 10_000, "List pages never end")
		l := list(t, e, opts)
		assert.LessOrEqual(t, len(l.Names), limit, "page %d: names on a page of limit %d", page, limit)
		all = append(all, l.Names...)
		if l.Next == "" {
			return all
		}
		require.NotEmpty(t, l.Names, "page %d: an empty page with a Next", page)
		assert.Equal(t, l.Names[len(l.Names)-1].Name, l.Next, "page %d: Next is the page's last name", page)
		opts.After = l.Next
	}
}

// signalWithin signals and returns the receipt with the time window the
// call ran in.
func signalWithin(t *testing.T, e eventcoord.Events, name string, data eventcoord.Data) (r eventcoord.Receipt, from, to time.Time) {
	t.Helper()
	from = time.Now()
	r = signal(t, e, name, data)
	return r, from, time.Now()
}

// assertWithin checks that at lies in [from, to] up to clockSlack.
func assertWithin(t *testing.T, at, from, to time.Time, what string) {
	t.Helper()
	if assert.False(t, at.IsZero(), "%s is zero", what) {
		assert.False(t, at.Before(from.Add(-clockSlack)) || at.After(to.Add(clockSlack)),
			"%s = %v; want within the Signal call, %v to %v", what, at, from, to)
	}
}

// jsonSize is the length of v's JSON encoding.
func jsonSize(t *testing.T, v any) int64 {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return int64(len(b))
}

// testListScope checks S8 for List: a scope's page holds its own names
// only, and its totals count its own state only.
func testListScope(t *testing.T, f Factory) {
	a, b := f.Scope("la"), f.Scope("lb")
	signal(t, a, "x", eventcoord.Data{})
	signal(t, b, "z", eventcoord.Data{})
	signal(t, b, "x", eventcoord.Data{"in": "b"})
	w := newWaits(t)
	w.start(w.ctx, a, "y")
	w.start(w.ctx, b, "w")
	awaitWaiters(t, f, 2)
	l := list(t, a, eventcoord.ListOptions{})
	var names []string
	for _, n := range l.Names {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"x", "y"}, names, "the names of scope la")
	assert.Equal(t, "", l.Next)
	assert.Equal(t, eventcoord.ScopeStats{Names: 2, Waiters: 1, Retained: 1, RetainedBytes: 2}, l.Scope, "scope la's totals")
	for _, h := range f.handles("lc") {
		l = list(t, h, eventcoord.ListOptions{})
		assert.Empty(t, l.Names, "a scope that holds nothing")
		assert.Equal(t, eventcoord.ScopeStats{}, l.Scope, "the totals of a scope that holds nothing")
	}
}

// testListStates checks what List says of each name: its waiters (a wait
// on several names counts on each), its retained event's Seq, SignaledAt
// and size, and the scope's totals.
func testListStates(t *testing.T, f Factory) {
	hs := f.handles("lstate")
	e := hs[0]
	data := eventcoord.Data{"code": "123456", "ok": true}
	rx, from, to := signalWithin(t, e, "retained", data)
	rb, fromB, toB := signalWithin(t, e, "both", eventcoord.Data{})
	w := newWaits(t)
	for range 2 {
		w.start(w.ctx, hs[len(hs)-1], "waited")
	}
	w.start(w.ctx, e, "waited", eventcoord.Or("other"))
	w.start(w.ctx, e, "both", eventcoord.Fresh())
	awaitWaiters(t, f, 5)

	for _, h := range hs {
		l := list(t, h, eventcoord.ListOptions{})
		require.Len(t, l.Names, 4, "names of the scope: %+v", l.Names)
		both, other, ret, waited := l.Names[0], l.Names[1], l.Names[2], l.Names[3]
		assert.Equal(t, "both", both.Name)
		assert.Equal(t, 1, both.Waiters, "both: Waiters")
		assert.True(t, both.Retained, "both: Retained")
		assert.Equal(t, rb.Seq, both.Seq, "both: Seq")
		assertWithin(t, both.SignaledAt, fromB, toB, "both: SignaledAt")
		assert.Equal(t, int64(2), both.Size, "both: Size of {}")

		assert.Equal(t, eventcoord.NameState{Name: "other", Waiters: 1}, other, "a name waited on through Or")

		assert.Equal(t, "retained", ret.Name)
		assert.Zero(t, ret.Waiters, "retained: Waiters")
		assert.True(t, ret.Retained, "retained: Retained")
		assert.Equal(t, rx.Seq, ret.Seq, "retained: Seq")
		assertWithin(t, ret.SignaledAt, from, to, "retained: SignaledAt")
		assert.Equal(t, jsonSize(t, data), ret.Size, "retained: Size, the length of the data's JSON encoding")

		assert.Equal(t, eventcoord.NameState{Name: "waited", Waiters: 3}, waited, "a name with waiters only")

		assert.Equal(t, eventcoord.ScopeStats{Names: 4, Waiters: 5, Retained: 2, RetainedBytes: 2 + jsonSize(t, data)},
			l.Scope, "the scope's totals")
	}
	w.cancel()
}

// testListPages checks List's order and pagination: bytewise order, and
// following Next visits every name exactly once, whatever the limit.
func testListPages(t *testing.T, f Factory) {
	e := f.Scope("lpages")
	names := []string{"a", "B", "b", "a:b", "a/b", "ab", "a b", "é", "z", "Z", "~", "0", "9z", "a.b", "日本", "ü", "a-b", "a_b"}
	for i := range 12 {
		names = append(names, fmt.Sprintf("n%02d", i))
	}
	for _, n := range names {
		signal(t, e, n, eventcoord.Data{})
	}
	want := slices.Clone(names)
	slices.Sort(want) // bytewise, as Go compares strings
	for _, limit := range []int{1, 4, 7, len(names) - 1, len(names), len(names) + 1} {
		var got []string
		for _, n := range listAll(t, e, limit) {
			got = append(got, n.Name)
		}
		assert.Equal(t, want, got, "the names over every page of limit %d", limit)
	}
	l := list(t, e, eventcoord.ListOptions{After: "a:b", Limit: 3})
	var got []string
	for _, n := range l.Names {
		got = append(got, n.Name)
	}
	i := slices.Index(want, "a:b")
	assert.Equal(t, want[i+1:i+4], got, "the page after a:b")
	assert.Equal(t, len(names), l.Scope.Names, "the scope's totals on a page: all its names")
	l = list(t, e, eventcoord.ListOptions{After: "a:a"}) // a name the scope does not hold
	require.NotEmpty(t, l.Names)
	assert.Equal(t, "a:b", l.Names[0].Name, "the page after a name the scope does not hold")
	l = list(t, e, eventcoord.ListOptions{After: want[len(want)-1]})
	assert.Empty(t, l.Names, "the page after the last name")
	assert.Equal(t, "", l.Next)
}

// testListLimits checks List's bounds: a limit of 0 is DefaultListLimit,
// one above MaxListLimit is MaxListLimit, a negative one ErrBadListLimit.
func testListLimits(t *testing.T, f Factory) {
	e := f.Scope("llimits")
	n := eventcoord.MaxListLimit + 1
	c := ctx(t)
	var g sync.WaitGroup
	const signalers = 4
	for s := range signalers {
		g.Go(func() {
			for i := s; i < n; i += signalers {
				if _, err := e.Signal(c, fmt.Sprintf("n%04d", i), eventcoord.Data{}); !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	g.Wait()
	if t.Failed() {
		return
	}
	l := list(t, e, eventcoord.ListOptions{})
	assert.Len(t, l.Names, eventcoord.DefaultListLimit, "a page of limit 0")
	assert.Equal(t, "n0099", l.Next, "Next of a page of limit 0")
	assert.Equal(t, n, l.Scope.Names)
	l = list(t, e, eventcoord.ListOptions{Limit: eventcoord.MaxListLimit + 500})
	assert.Len(t, l.Names, eventcoord.MaxListLimit, "a page of a limit above MaxListLimit")
	l = list(t, e, eventcoord.ListOptions{After: l.Next, Limit: eventcoord.MaxListLimit})
	require.Len(t, l.Names, 1, "the last page")
	assert.Equal(t, fmt.Sprintf("n%04d", n-1), l.Names[0].Name)
	assert.Equal(t, "", l.Next)
	_, err := e.List(ctx(t), eventcoord.ListOptions{Limit: -1})
	assert.ErrorIs(t, err, eventcoord.ErrBadListLimit, "List with a negative limit")
}

// testListIdle checks that a name holding nothing is absent: after its
// wait returned, its waiter left, its event was polled or cleared.
func testListIdle(t *testing.T, f Factory) {
	e := f.Scope("lidle")
	w := newWaits(t)
	ch := w.start(w.ctx, e, "returned")
	awaitWaiters(t, f, 1)
	signal(t, e, "returned", eventcoord.Data{})
	require.NoError(t, receive(t, ch, "the wait on returned").err)
	r := register(t, e, "left", eventcoord.Or("left too"))
	r.Cancel()
	signal(t, e, "polled", eventcoord.Data{})
	take(t, e, "polled")
	signal(t, e, "cleared", eventcoord.Data{})
	clearName(t, e, "cleared")
	idle(t, f)
	l := list(t, e, eventcoord.ListOptions{})
	assert.Empty(t, l.Names, "names that hold nothing")
	assert.Equal(t, eventcoord.ScopeStats{}, l.Scope)
	if f.Stats != nil {
		assert.Zero(t, f.Stats().Names, "Stats.Names")
	}
}
