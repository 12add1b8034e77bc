package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, baseURL, key string) *client.Client {
	t.Helper()
	c, err := client.New(baseURL, key, client.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseIdleConnections() })
	return c
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang fails, late
	t.Cleanup(cancel)
	return ctx
}

func TestSignalThenWait(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	r, err := c.Signal(ctx(t), "mfa_code", eventcoord.Data{"code": "123456"})
	require.NoError(t, err)
	assert.True(t, r.Retained)
	assert.NotZero(t, r.Seq)

	ev, err := c.Wait(ctx(t), "mfa_code", time.Second)
	require.NoError(t, err)
	assert.Equal(t, "mfa_code", ev.Name)
	assert.Equal(t, eventcoord.Data{"code": "123456"}, ev.Data)
	assert.Equal(t, r.Seq, ev.Seq)
}

func TestWaitFirstThroughEvents(t *testing.T) {
	srv := testserver.Start(t)
	var events eventcoord.Events = newClient(t, srv.URL, "k").Events()
	type result struct {
		ev  eventcoord.Event
		err error
	}
	got := make(chan result, 1)
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		ev, err := events.Wait(wctx, "order-12345-ready")
		got <- result{ev, err}
	})
	t.Cleanup(func() { cancel(); wg.Wait() }) // joined on every path
	srv.AwaitWaiters(t, 1)
	r, err := events.Signal(ctx(t), "order-12345-ready", eventcoord.Data{"ok": true})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Woken)
	res := <-got
	require.NoError(t, res.err)
	assert.Equal(t, eventcoord.Data{"ok": true}, res.ev.Data)
}

func TestTimeoutMatchesErrTimeout(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	_, err := c.Wait(ctx(t), "nobody", 10*time.Millisecond)
	require.ErrorIs(t, err, client.ErrTimeout)
	apiErr, ok := errors.AsType[*client.APIError](err)
	require.True(t, ok)
	assert.Equal(t, 408, apiErr.StatusCode)
	assert.Equal(t, "Event was not signaled within the specified timeout", apiErr.Message)
}

func TestEventsWaitReturnsContextError(t *testing.T) {
	srv := testserver.Start(t)
	events := newClient(t, srv.URL, "k").Events()
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := events.Wait(wctx, "nobody")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	srv.AwaitWaiters(t, 0)
}

func TestUnknownKeyIsUnauthorized(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithKeys([]string{"good"}))
	_, err := newClient(t, srv.URL, "bad").Signal(ctx(t), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, client.ErrUnauthorized)
	assert.ErrorContains(t, err, "Invalid API key")
}

func TestInvalidNameMatchesErrInvalidName(t *testing.T) {
	srv := testserver.Start(t)
	_, err := newClient(t, srv.URL, "k").Signal(ctx(t), "bad\xff", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
	_, err = newClient(t, srv.URL, "k").Signal(ctx(t), "x", nil)
	assert.ErrorIs(t, err, eventcoord.ErrDataRequired)
}

func TestNamesArePathEscaped(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	for _, name := range []string{"a/b", "what?", "100%", "build:finished", "sp ace", "wait", "x/wait"} {
		_, err := c.Signal(ctx(t), name, eventcoord.Data{"name": name})
		require.NoError(t, err, name)
		ev, err := c.Wait(ctx(t), name, time.Second)
		require.NoError(t, err, name)
		assert.Equal(t, name, ev.Data["name"])
	}
}

func TestUnreachableServerIsErrUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = newClient(t, "http://"+addr, "k").Signal(ctx(t), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable)
}

func TestNewValidates(t *testing.T) {
	for _, base := range []string{"", "ftp://x", "http://", "::"} {
		_, err := client.New(base, "k")
		assert.Error(t, err, base)
	}
	_, err := client.New(client.DefaultBaseURL, "")
	assert.Error(t, err)
}
