package eventcoordtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// clearName calls Clear(ctx, name) on e, which must succeed.
func clearName(t *testing.T, e eventcoord.Events, name string) bool {
	t.Helper()
	ok, err := e.Clear(ctx(t), name)
	require.NoError(t, err, "Clear(ctx, %q)", name)
	return ok
}

// testClearRetained checks that Clear removes a retained event and says
// so, says false when nothing is retained, touches no other name or scope,
// and is counted in Stats.Cleared.
func testClearRetained(t *testing.T, f Factory) {
	hs := f.handles("clear")
	signal(t, hs[0], "mfa_code", eventcoord.Data{"code": "stale"})
	other := signal(t, hs[0], "other", eventcoord.Data{})
	elsewhere := signal(t, f.Scope("clear2"), "mfa_code", eventcoord.Data{})
	assert.True(t, clearName(t, hs[len(hs)-1], "mfa_code"), "Clear of a retained event")
	assert.False(t, clearName(t, hs[0], "mfa_code"), "a second Clear")
	assert.False(t, clearName(t, hs[0], "never"), "Clear of a name that never held anything")
	assertNothingRetained(t, hs[0], "mfa_code")
	assert.Equal(t, other.Seq, take(t, hs[0], "other").Seq, "Clear touched another name")
	assert.Equal(t, elsewhere.Seq, take(t, f.Scope("clear2"), "mfa_code").Seq, "Clear touched another scope")
	idle(t, f)
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, uint64(1), s.Cleared, "Stats.Cleared")
		assert.Equal(t, uint64(3), s.Signals, "Stats.Signals")
		assert.Equal(t, uint64(2), s.Delivered, "Stats.Delivered")
		assert.Zero(t, s.Names, "Stats.Names after Clear")
	}
}

// testClearLeavesWaiters checks that Clear does not touch waiters: a wait
// blocked on the name, and a Fresh wait beside a retained event, still get
// the next signal.
func testClearLeavesWaiters(t *testing.T, f Factory) {
	e := f.Scope("clearwait")
	w := newWaits(t)
	ch := w.start(w.ctx, e, "x")
	awaitWaiters(t, f, 1)
	assert.False(t, clearName(t, e, "x"), "Clear of a name with a waiter and nothing retained")
	awaitWaiters(t, f, 1)
	rc := signal(t, e, "x", eventcoord.Data{"v": "1"})
	assert.Equal(t, 1, rc.Woken, "the waiter is still there after Clear")
	got := receive(t, ch, "the waiter after Clear")
	require.NoError(t, got.err)
	assert.Equal(t, rc.Seq, got.ev.Seq)

	signal(t, e, "y", eventcoord.Data{"v": "stale"})
	r := register(t, e, "y", eventcoord.Fresh())
	assert.True(t, clearName(t, e, "y"), "Clear of a retained event beside a Fresh waiter")
	assert.False(t, isDone(r), "Clear woke a Fresh waiter")
	rc = signal(t, e, "y", eventcoord.Data{"v": "new"})
	assert.Equal(t, 1, rc.Woken, "the Fresh waiter is still there after Clear")
	assert.Equal(t, rc.Seq, waitFor(t, r, "the Fresh waiter after Clear").Seq)
	assertNothingRetained(t, e, "y")
	idle(t, f)
	if f.Stats != nil {
		assert.Equal(t, uint64(1), f.Stats().Cleared, "Stats.Cleared")
	}
}
