package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

func TestNumbersKeepEveryDigit(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	data := eventcoord.Data{"big": json.Number("9007199254740993"), "pi": json.Number("3.14159265358979323846")}
	_, err := c.Signal(ctx(t), "n", data)
	require.NoError(t, err)
	ev, err := c.Wait(within(t, time.Second), "n")
	require.NoError(t, err)
	assert.Equal(t, json.Number("9007199254740993"), ev.Data["big"])
	assert.Equal(t, json.Number("3.14159265358979323846"), ev.Data["pi"])
}

func TestNamesMadeOfDots(t *testing.T) {
	coord := eventcoord.New()
	t.Cleanup(func() { coord.Close() })
	var mu sync.Mutex
	var seen []string // the names the handler passed on
	h := httpapi.New(func(scope string) eventcoord.Events {
		return namesSeen{coord.Scope(scope).Events(), func(name string) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, name)
		}}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, "k")
	names := []string{".", "..", "...", "./x", "x/..", "a.b"}
	for _, name := range names {
		_, err := c.Signal(ctx(t), name, eventcoord.Data{"name": name})
		require.NoError(t, err, name)
		ev, err := c.Wait(within(t, time.Second), name)
		require.NoError(t, err, name)
		assert.Equal(t, name, ev.Data["name"])
	}
	mu.Lock()
	defer mu.Unlock()
	var want []string
	for _, name := range names {
		want = append(want, name, name) // its signal, then its wait
	}
	assert.Equal(t, want, seen, "eventd decodes each name back as it was")
}

// namesSeen is an Events that reports the name of every call.
type namesSeen struct {
	eventcoord.Events
	saw func(name string)
}

func (n namesSeen) Signal(ctx context.Context, name string, data eventcoord.Data) (eventcoord.Receipt, error) {
	n.saw(name)
	return n.Events.Signal(ctx, name, data)
}

func (n namesSeen) Wait(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Event, error) {
	n.saw(name)
	return n.Events.Wait(ctx, name, opts...)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("anchor-api-key") != "" {
			leaked.Add(1)
		}
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"data":{"status":"signaled"}}`))
	}))
	defer elsewhere.Close()
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/v1/events/x", http.StatusTemporaryRedirect))
	defer redirecting.Close()

	hc := &http.Client{Transport: &http.Transport{}}
	c, err := client.New(redirecting.URL, "secret", client.WithHTTPClient(hc))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	_, err = c.Signal(ctx(t), "x", eventcoord.Data{})
	apiErr, ok := errors.AsType[*client.APIError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusTemporaryRedirect, apiErr.StatusCode)
	assert.Contains(t, apiErr.Message, elsewhere.URL)
	assert.Zero(t, leaked.Load(), "the key went where the redirect pointed")
	assert.Nil(t, hc.CheckRedirect, "the caller's client is left as it was")
}

func TestPollThroughTheClient(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	_, err := c.Poll(ctx(t), "x")
	require.ErrorIs(t, err, eventcoord.ErrNoEvent)
	r, err := c.Signal(ctx(t), "x", eventcoord.Data{"n": 1})
	require.NoError(t, err)

	var events eventcoord.Events = c
	ev, err := events.Poll(ctx(t), "x")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, eventcoord.Data{"n": json.Number("1")}, ev.Data)
	_, err = c.Poll(ctx(t), "x")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "consumed")
	assert.Zero(t, srv.Coord.Stats().Names)
}
