package eventcoordtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

// testFreshLeavesRetainedAlone checks that a Wait with Fresh ignores the
// retained event, returns only a signal sent after it registered, and
// leaves the retained event as it was: still retained, same Seq.
func testFreshLeavesRetainedAlone(t *testing.T, f Factory) {
	hs := f.handles("fresh")
	stale := signal(t, hs[0], "mfa_code", eventcoord.Data{"code": "stale"})
	w := newWaits(t)
	ch := w.start(w.ctx, hs[len(hs)-1], "mfa_code", eventcoord.Fresh())
	awaitWaiters(t, f, 1)
	select {
	case got := <-ch:
		t.Fatalf("a Fresh Wait returned %+v, %v with only an old event retained; want it to block", got.ev, got.err)
	default:
	}
	rc := signal(t, hs[0], "mfa_code", eventcoord.Data{"code": "new"})
	assert.Equal(t, 1, rc.Woken, "Receipt.Woken of a signal with a Fresh waiter")
	assert.False(t, rc.Retained, "Receipt.Retained of a signal with a Fresh waiter")
	got := receive(t, ch, "the Fresh Wait")
	require.NoError(t, got.err, "Wait(ctx, %q, Fresh())", "mfa_code")
	assert.Equal(t, rc.Seq, got.ev.Seq, "the Fresh Wait's event")
	assert.Equal(t, eventcoord.Data{"code": "new"}, got.ev.Data)

	ev := take(t, hs[0], "mfa_code")
	assert.Equal(t, stale.Seq, ev.Seq, "the event retained before the Fresh Wait is still there")
	assert.Equal(t, eventcoord.Data{"code": "stale"}, ev.Data)
	idle(t, f)
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, uint64(2), s.Delivered, "Stats.Delivered")
		assert.Zero(t, s.Replaced, "Stats.Replaced: the new event did not replace the retained one")
	}
}

// testFreshRegister checks Register with Fresh: not Done while only an old
// event is retained, reached by the next signal, the old one left alone.
func testFreshRegister(t *testing.T, f Factory) {
	hs := f.handles("freshreg")
	stale := signal(t, hs[0], "x", eventcoord.Data{"v": "stale"})
	r := register(t, hs[len(hs)-1], "x", eventcoord.Fresh())
	assert.False(t, isDone(r), "a Fresh Registration is Done with only an old event retained")
	rc := signal(t, hs[0], "x", eventcoord.Data{"v": "new"})
	assert.Equal(t, 1, rc.Woken, "Receipt.Woken of a signal after a Fresh Register")
	ev := waitFor(t, r, "the Fresh Registration")
	assert.Equal(t, rc.Seq, ev.Seq)
	assert.Equal(t, stale.Seq, take(t, hs[0], "x").Seq, "the old event is still retained")
	idle(t, f)
}

// testFreshBesidePlain checks a plain wait beside a Fresh one on a name
// with a retained event: the plain one takes the retained event, the Fresh
// one the next signal.
func testFreshBesidePlain(t *testing.T, f Factory) {
	e := f.Scope("freshplain")
	stale := signal(t, e, "x", eventcoord.Data{"v": "stale"})
	fresh := register(t, e, "x", eventcoord.Fresh())
	plain := register(t, e, "x")
	awaitDone(t, plain, "a plain Registration beside a Fresh one")
	assert.Equal(t, stale.Seq, waitFor(t, plain, "the plain Registration").Seq, "the plain Registration takes the retained event")
	assert.False(t, isDone(fresh), "the Fresh Registration is Done before any new signal")
	rc := signal(t, e, "x", eventcoord.Data{"v": "new"})
	assert.Equal(t, 1, rc.Woken)
	assert.Equal(t, rc.Seq, waitFor(t, fresh, "the Fresh Registration").Seq)
	assertNothingRetained(t, e, "x")
	idle(t, f)
}

// testFreshGiveBack checks S3's give-back for one signal that reached a
// plain and a Fresh Registration: the event is given back only when
// neither returned it, and then once.
func testFreshGiveBack(t *testing.T, f Factory) {
	e := f.Scope("freshback")
	for i, returner := range []string{"plain", "fresh", "none"} {
		name := fmt.Sprintf("x%d", i)
		regs := map[string]eventcoord.Registration{
			"plain": register(t, e, name),
			"fresh": register(t, e, name, eventcoord.Fresh()),
		}
		rc := signal(t, e, name, eventcoord.Data{})
		require.Equal(t, 2, rc.Woken, "%s: Receipt.Woken of a signal with a plain and a Fresh Registration", returner)
		for who, r := range regs {
			awaitDone(t, r, who)
			if who == returner {
				assert.Equal(t, rc.Seq, waitFor(t, r, who).Seq)
			}
		}
		for who, r := range regs {
			if who != returner {
				r.Cancel()
			}
		}
		idle(t, f)
		if returner != "none" {
			assertNothingRetained(t, e, name)
			continue
		}
		assert.Equal(t, rc.Seq, take(t, e, name).Seq, "the event neither returned, given back")
		assertNothingRetained(t, e, name)
	}
	idle(t, f)
	if f.Stats != nil {
		s := f.Stats()
		assert.Equal(t, uint64(3), s.Delivered, "Stats.Delivered: each event once")
	}
}
