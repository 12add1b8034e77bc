package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
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

// requests returns how many requests of method on route srv answered with
// code, from its metrics.
func requests(t *testing.T, srv *testserver.Server, code int, method, route string) int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^eventd_http_request_duration_seconds_count\{code="` + strconv.Itoa(code) +
		`",method="` + method + `",route="` + regexp.QuoteMeta(route) + `"\} (\d+)$`)
	m := re.FindStringSubmatch(metrics(t, srv))
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

func awaitDone(t *testing.T, r eventcoord.Registration) {
	t.Helper()
	select {
	case <-r.Done():
	case <-time.After(time.Minute):
		t.Fatal("Done was not closed within a minute")
	}
}

// The client holds a registration's lease for as long as it holds the
// Registration, before its event comes and after: several leases pass,
// and the event is still there for Wait. (The lease stays well above a
// round trip on a busy machine: renewals come every third of it.)
func TestRegistrationLeaseIsHeld(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithMaxWait(20*time.Millisecond)) // short long polls
	const lease = time.Second
	c, err := client.New(srv.URL, "k", client.WithHTTPClient(&http.Client{Transport: &http.Transport{}}), client.WithLease(lease))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	r, err := c.Register(ctx(t), "x")
	require.NoError(t, err)
	t.Cleanup(r.Cancel)
	const route = "/v1/waiters/{id}"
	testserver.Await(t, "ten long polls", func() bool { return requests(t, srv, 200, "GET", route) >= 10 })
	_, err = c.Signal(ctx(t), "x", eventcoord.Data{"n": 1})
	require.NoError(t, err)
	awaitDone(t, r)
	polls := requests(t, srv, 200, "GET", route)
	start := time.Now()
	testserver.Await(t, "renewals over two leases after the event came", func() bool {
		return requests(t, srv, 200, "GET", route) >= polls+7 && time.Since(start) > 2*lease
	})
	ev, err := r.Wait(ctx(t))
	require.NoError(t, err, "the registration outlived many leases")
	assert.Equal(t, eventcoord.Data{"n": json.Number("1")}, ev.Data)
	assert.Contains(t, metrics(t, srv), `eventd_registrations_ended_total{outcome="expired"} 0`)
}

// A registration the server dropped behind the client's back is
// ErrRegistrationLost, and Done says so at once.
func TestRegistrationLost(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.URL, "k")
	r, err := c.Register(ctx(t), "x")
	require.NoError(t, err)
	t.Cleanup(r.Cancel)
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/waiters/"+client.RegistrationID(r), nil)
	req.Header.Set("anchor-api-key", "k")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	awaitDone(t, r)
	_, err = r.Wait(ctx(t))
	assert.ErrorIs(t, err, client.ErrRegistrationLost)
}

// Cancel ends a Wait going on on the registration with context.Canceled,
// and the event signaled after is retained.
func TestCancelDuringWait(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithMaxWait(20*time.Millisecond)) // each request of the Wait ends soon
	c := newClient(t, srv.URL, "k")
	r, err := c.Register(ctx(t), "x")
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		_, err := r.Wait(ctx(t))
		got <- err
	}()
	testserver.Await(t, "the Wait's requests", func() bool {
		return requests(t, srv, 408, "POST", "/v1/waiters/{id}/wait") >= 2 || len(got) > 0
	})
	if len(got) > 0 {
		t.Fatalf("Wait returned before Cancel: %v", <-got)
	}
	r.Cancel()
	select {
	case err := <-got:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Minute):
		t.Fatal("Wait did not end")
	}
	_, err = c.Signal(ctx(t), "x", eventcoord.Data{})
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Coord.Stats().Retained, "nobody waits any more")
}

// At a deadline the server, not the client, ends the wait: an event it
// answers just after the deadline is returned, not lost.
func TestEventAtTheDeadlineIsReturned(t *testing.T) {
	release := make(chan struct{})
	late := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // until the client's deadline has passed, as a signal at the last moment makes it
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Eventcoord-Seq", "7")
		w.Write([]byte(`{"data": {"late": true}}`))
	}))
	c := newClient(t, late, "k")
	wctx := within(t, 50*time.Millisecond)
	type result struct {
		ev  eventcoord.Event
		err error
	}
	got := make(chan result, 1)
	go func() {
		ev, err := c.Wait(wctx, "x")
		got <- result{ev, err}
	}()
	<-wctx.Done()
	close(release)
	res := <-got
	require.NoError(t, res.err)
	assert.Equal(t, eventcoord.Data{"late": true}, res.ev.Data)
	assert.Equal(t, uint64(7), res.ev.Seq)
}

// startFake serves h on loopback until the test ends, and returns its URL.
func startFake(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A server silent past a wait's end is eventcoord.ErrUnavailable, not a
// timeout, once the client has given it AnswerSlack.
func TestSilentServerIsUnavailable(t *testing.T) {
	hang := make(chan struct{})
	silent := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer close(hang)
	c := newClient(t, silent, "k")
	start := time.Now()
	_, err := c.Wait(within(t, 10*time.Millisecond), "x")
	require.ErrorIs(t, err, eventcoord.ErrUnavailable)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no answer")
	assert.GreaterOrEqual(t, time.Since(start), client.AnswerSlack)
}

// eventd's error kinds become the eventcoord errors they stand for.
func TestErrorKindsBecomeEventcoordErrors(t *testing.T) {
	kind := map[string]string{}
	fake := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := kind[r.URL.Path]
		status := map[string]int{"closed": 503, "unavailable": 503}[k]
		if status == 0 {
			status = 400
		}
		if r.Header.Get("Eventcoord-Extensions") != "" {
			w.Header().Set("Eventcoord-Error", k)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error": {"code": %d, "message": "Invalid event name: the server's own rule"}}`, status)
	}))
	c := newClient(t, fake, "k")
	for name, want := range map[string]error{
		"invalid_name":   eventcoord.ErrInvalidName,
		"too_many_names": eventcoord.ErrTooManyNames,
		"data_required":  eventcoord.ErrDataRequired,
		"closed":         eventcoord.ErrClosed,
	} {
		kind["/v1/events/"+name] = name
		_, err := c.Signal(ctx(t), name, eventcoord.Data{})
		assert.ErrorIs(t, err, want, name)
		if name == "closed" {
			assert.ErrorIs(t, err, eventcoord.ErrUnavailable, "a server shutting down is unavailable too")
		}
	}
	kind["/v1/events/unavailable"] = "unavailable"
	_, err := c.Signal(ctx(t), "unavailable", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable)
	assert.NotErrorIs(t, err, eventcoord.ErrClosed, "Redis down is not a closed server")

	_, err = c.Signal(ctx(t), "invalid_name", eventcoord.Data{})
	ne, ok := errors.AsType[*eventcoord.NameError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "Invalid event name: the server's own rule", ne.Reason)
}

// Names are judged by the client as by every backend, with no request.
func TestBadNamesAreRefusedWithoutARequest(t *testing.T) {
	var calls atomic.Int32
	fake := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	c := newClient(t, fake, "k")
	long := strings.Repeat("n", eventcoord.MaxNameLen+1)
	for _, call := range []func() error{
		func() error { _, err := c.Signal(ctx(t), long, eventcoord.Data{}); return err },
		func() error { _, err := c.Wait(ctx(t), "ok", eventcoord.Or("x\xff")); return err },
		func() error { _, err := c.Poll(ctx(t), ""); return err },
		func() error { _, err := c.Clear(ctx(t), ""); return err },
		func() error { _, err := c.Register(ctx(t), "", eventcoord.Fresh()); return err },
	} {
		err := call()
		assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
		_, ok := errors.AsType[*eventcoord.NameError](err)
		assert.True(t, ok, "%v is a *NameError", err)
	}
	many := make([]string, eventcoord.MaxWaitNames)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	_, err := c.Wait(ctx(t), "x", eventcoord.Or(many...))
	assert.ErrorIs(t, err, eventcoord.ErrTooManyNames)
	_, err = c.List(ctx(t), eventcoord.ListOptions{Limit: -1})
	assert.ErrorIs(t, err, eventcoord.ErrBadListLimit)
	assert.Zero(t, calls.Load(), "no request was sent")
}
