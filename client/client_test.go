package client_test

import (
	"context"
	"io"
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

func ctx(t *testing.T) context.Context { return within(t, 2*time.Minute) } // a hang fails, late

// within returns a context that ends after d, or when the test ends.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
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

	ev, err := c.Wait(within(t, time.Second), "mfa_code")
	require.NoError(t, err)
	assert.Equal(t, "mfa_code", ev.Name)
	assert.Equal(t, eventcoord.Data{"code": "123456"}, ev.Data)
	assert.Equal(t, r.Seq, ev.Seq)
}

func TestWaitFirstThroughEvents(t *testing.T) {
	srv := testserver.Start(t)
	var events eventcoord.Events = newClient(t, srv.URL, "k")
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

// A wait that times out is context.DeadlineExceeded, on every path: the
// server's 408 at the context's deadline, and a context that ended first.
func TestTimeoutIsDeadlineExceeded(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	_, err := c.Wait(within(t, 10*time.Millisecond), "nobody")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, &client.APIError{StatusCode: 408}, context.DeadlineExceeded, "the server's 408 alone")

	ended, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = c.Wait(ended, "nobody")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = c.Wait(ended, "nobody", eventcoord.Or("other"), eventcoord.Fresh())
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// A wait longer than the server's ceiling is made of several requests and
// ends at its own deadline; the event of a later request is returned.
func TestWaitOutlastsServerCeiling(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithMaxWait(50*time.Millisecond))
	c := newClient(t, srv.URL, "k")
	start := time.Now()
	_, err := c.Wait(within(t, 200*time.Millisecond), "never")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)

	// The first Wait's requests timed out too: count from here.
	const route = "/v1/events/{event_name}/wait"
	before := requests(t, srv, 408, "POST", route)
	got := make(chan error, 1)
	go func() {
		_, err := c.Wait(ctx(t), "later")
		got <- err
	}()
	// Past several of the server's ceilings: the wait is still there.
	testserver.Await(t, "three more wait requests timed out", func() bool {
		return requests(t, srv, 408, "POST", route) >= before+3
	})
	srv.AwaitWaiters(t, 1)
	_, err = c.Signal(ctx(t), "later", eventcoord.Data{})
	require.NoError(t, err)
	require.NoError(t, <-got)
}

func metrics(t *testing.T, srv *testserver.Server) string {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestWaitReturnsContextError(t *testing.T) {
	srv := testserver.Start(t)
	events := newClient(t, srv.URL, "k")
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
		ev, err := c.Wait(within(t, time.Second), name)
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
