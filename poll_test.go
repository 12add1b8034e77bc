package eventcoord_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
)

func TestPollTakesTheRetainedEvent(t *testing.T) { // S2, a wait that does not wait
	c := newCoordinator(t)
	r, err := c.Signal("x", eventcoord.Data{"n": 1})
	require.NoError(t, err)
	require.True(t, r.Retained)

	ev, err := c.Poll("x")
	require.NoError(t, err, "Poll(%q)", "x")
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, eventcoord.Data{"n": 1}, ev.Data)

	_, err = c.Poll("x")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "the retained event was consumed")
	s := c.Stats()
	assert.Zero(t, s.Retained)
	assert.Zero(t, s.Waiters)
	assert.Zero(t, s.Names, "a Poll that found nothing leaves nothing")
}

func TestPollWithNothingRetainedChangesNothing(t *testing.T) {
	c := newCoordinator(t)
	w := register(t, c, "x")
	before := c.Stats()
	_, err := c.Poll("x")
	require.ErrorIs(t, err, eventcoord.ErrNoEvent)
	assert.Equal(t, before, c.Stats())

	r, err := c.Signal("x", eventcoord.Data{})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Woken, "only the registered waiter is reached")
	ev, err := w.Wait(context.Background())
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
}

func TestPollIsNotAWaitWithADoneContext(t *testing.T) {
	c := newCoordinator(t)
	_, err := c.Signal("x", eventcoord.Data{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Wait(ctx, "x")
	require.ErrorIs(t, err, context.Canceled, "Wait keeps its contract")
	_, err = c.Scope("").Events().Poll(ctx, "x")
	assert.NoError(t, err, "the in-process Poll ignores its context")
}

func TestPollErrors(t *testing.T) { // S5, S7, S8
	c := newCoordinator(t)
	_, err := c.Poll("")
	assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
	_, err = c.Scope("a").Signal("x", eventcoord.Data{})
	require.NoError(t, err)
	_, err = c.Scope("b").Poll("x")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "scopes are separate")
	_, err = c.Scope("a").Poll("x")
	assert.NoError(t, err)
	c.Close()
	_, err = c.Poll("x")
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
}
