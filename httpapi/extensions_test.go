package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// request sends method path with key (none if empty), body and the extra
// headers hdr, and returns the answer. It may run on any goroutine.
func request(ctx context.Context, srv *testserver.Server, method, path, apiKey, body string, hdr map[string]string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if apiKey != "" {
		req.Header.Set("anchor-api-key", apiKey)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if method != http.MethodHead {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			return answer{}, fmt.Errorf("%s %s: body %q is not JSON: %w", method, path, raw, err)
		}
	}
	return a, nil
}

// ask is request from the test's goroutine, failing it on a transport error.
func ask(t *testing.T, srv *testserver.Server, method, path, body string, hdr map[string]string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang fails, late
	defer cancel()
	a, err := request(ctx, srv, method, path, key, body, hdr)
	require.NoError(t, err)
	return a
}

// data returns the "data" object of an answer.
func (a answer) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := a.body["data"].(map[string]any)
	require.True(t, ok, "%d %v has no data object", a.status, a.body)
	return d
}

var ext = map[string]string{httpapi.ExtensionsHeader: "1"}

func TestAnyOfSaysWhichNameFiredAndLeavesTheOthers(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	got := make(chan answer, 1)
	go func() {
		a, err := request(ctx, srv, "POST", "/v1/events/approved/wait", key, `{"timeoutMs": 600000, "anyOf": ["rejected", "approved"]}`, nil)
		if err != nil {
			a.status = -1
		}
		got <- a
	}()
	srv.AwaitWaiters(t, 2) // one per name
	a := ask(t, srv, "POST", "/v1/events/rejected", `{"data": {"by": "alice"}}`, nil)
	require.Equal(t, 200, a.status)
	assert.Equal(t, 1.0, a.data(t)["woken"])
	w := <-got
	require.Equal(t, 200, w.status)
	assert.Equal(t, map[string]any{"data": map[string]any{"by": "alice"}}, w.body, "Anchor's body, unchanged")
	assert.Equal(t, "rejected", w.header.Get(httpapi.EventNameHeader), "the name that fired, unasked: the request used anyOf")
	assert.NotEmpty(t, w.header.Get(httpapi.SignaledAtHeader))
	srv.AwaitWaiters(t, 0)

	a = ask(t, srv, "POST", "/v1/events/approved", `{"data": {}}`, nil)
	assert.Equal(t, true, a.data(t)["retained"], "the served wait left approved alone")
}

func TestNamesInHeadersAreEscaped(t *testing.T) {
	srv := testserver.Start(t)
	name := "x/y z\né"
	ask(t, srv, "POST", "/v1/events/"+url.PathEscape(name), `{"data": {}}`, nil)
	a := ask(t, srv, "POST", "/v1/events/other/wait", `{"timeoutMs": 1000, "anyOf": [`+strconvQuote(name)+`]}`, nil)
	require.Equal(t, 200, a.status, "%v", a.body)
	got, err := url.PathUnescape(a.header.Get(httpapi.EventNameHeader))
	require.NoError(t, err)
	assert.Equal(t, name, got)
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestFreshWaitLeavesTheRetainedEvent(t *testing.T) {
	srv := testserver.Start(t)
	ask(t, srv, "POST", "/v1/events/mfa_code", `{"data": {"code": "stale"}}`, nil)
	a := ask(t, srv, "POST", "/v1/events/mfa_code/wait", `{"timeoutMs": 20, "fresh": true}`, nil)
	assert.Equal(t, 408, a.status)
	a = ask(t, srv, "POST", "/v1/events/mfa_code/wait", `{"timeoutMs": 0, "fresh": true}`, nil)
	assert.Equal(t, 408, a.status, "a fresh poll finds nothing either")
	a = ask(t, srv, "POST", "/v1/events/mfa_code/wait", `{"timeoutMs": 0}`, nil)
	require.Equal(t, 200, a.status)
	assert.Equal(t, map[string]any{"code": "stale"}, a.data(t), "still retained for a wait without fresh")
}

// Anchor's requests get only Eventcoord-Seq; a request that asks gets the
// name and signal time, and errors their kind.
func TestExtraHeadersOnlyWhenAsked(t *testing.T) {
	srv := testserver.Start(t)
	before := time.Now()
	ask(t, srv, "POST", "/v1/events/e", `{"data": {}}`, nil)
	a := ask(t, srv, "POST", "/v1/events/e/wait", `{"timeoutMs": 1000}`, nil)
	require.Equal(t, 200, a.status)
	assert.Equal(t, "1", a.header.Get(httpapi.SeqHeader))
	for _, h := range []string{httpapi.EventNameHeader, httpapi.SignaledAtHeader, httpapi.ErrorHeader} {
		assert.Empty(t, a.header.Values(h), h)
	}
	a = ask(t, srv, "POST", "/v1/events/%FF/wait", `{}`, nil)
	assert.Equal(t, 400, a.status)
	assert.Empty(t, a.header.Values(httpapi.ErrorHeader))

	ask(t, srv, "POST", "/v1/events/e", `{"data": {}}`, nil)
	a = ask(t, srv, "POST", "/v1/events/e/wait", `{"timeoutMs": 1000}`, ext)
	require.Equal(t, 200, a.status)
	assert.Equal(t, "2", a.header.Get(httpapi.SeqHeader))
	assert.Equal(t, "e", a.header.Get(httpapi.EventNameHeader))
	at, err := time.Parse(time.RFC3339Nano, a.header.Get(httpapi.SignaledAtHeader))
	require.NoError(t, err)
	assert.WithinRange(t, at, before, time.Now())
	a = ask(t, srv, "POST", "/v1/events/%FF/wait", `{}`, ext)
	assert.Equal(t, httpapi.KindInvalidName, a.header.Get(httpapi.ErrorHeader))
	srv.Coord.Close()
	a = ask(t, srv, "POST", "/v1/events/e", `{"data": {}}`, ext)
	assert.Equal(t, 503, a.status)
	assert.Equal(t, httpapi.KindClosed, a.header.Get(httpapi.ErrorHeader))
}

// Hostile wait bodies get a clear 400 and change nothing.
func TestBadAnyOfAndFreshChangeNothing(t *testing.T) {
	srv := testserver.Start(t)
	ask(t, srv, "POST", "/v1/events/kept", `{"data": {}}`, nil)
	many := make([]string, 100_000)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	huge, _ := json.Marshal(map[string]any{"anyOf": many, "timeoutMs": 600000})
	for body, want := range map[string]string{
		string(huge):           "A wait takes at most 16 names: the path's and those of anyOf, each counted once",
		`{"anyOf": "kept"}`:    "anyOf must be an array of event names (strings)",
		`{"anyOf": [1]}`:       "anyOf must be an array of event names (strings)",
		`{"anyOf": ["a", ""]}`: "Invalid event name in anyOf[1]: empty",
		`{"fresh": "true"}`:    "fresh must be true or false",
		`{"fresh": 1}`:         "fresh must be true or false",
	} {
		before := srv.Coord.Stats()
		a := ask(t, srv, "POST", "/v1/events/kept/wait", body, nil)
		assert.Equal(t, errBody(400, want), a.body, "%.80s", body)
		assert.Equal(t, before, srv.Coord.Stats(), "%.80s changed something", body)
	}
	// The same name many times is one name, as eventcoord.Or counts it.
	same := `{"timeoutMs": 1000, "anyOf": [` + strings.TrimSuffix(strings.Repeat(`"kept",`, 10_000), ",") + `]}`
	a := ask(t, srv, "POST", "/v1/events/other/wait", same, nil)
	assert.Equal(t, 200, a.status, "%v", a.body)
	assert.Equal(t, "kept", a.header.Get(httpapi.EventNameHeader))
}

func TestClearRemovesTheRetainedEventOnly(t *testing.T) {
	srv := testserver.Start(t)
	ask(t, srv, "POST", "/v1/events/mfa_code", `{"data": {"code": "stale"}}`, nil)
	ask(t, srv, "POST", "/v1/events/other", `{"data": {}}`, nil)
	pending := goCall(t, srv, "/v1/events/waited/wait", `{"timeoutMs": 600000}`)
	srv.AwaitWaiters(t, 1)

	a := ask(t, srv, "DELETE", "/v1/events/mfa_code", "", nil)
	require.Equal(t, 200, a.status)
	assert.Equal(t, map[string]any{"cleared": true}, a.data(t))
	a = ask(t, srv, "DELETE", "/api/v1/events/mfa_code", "", nil)
	assert.Equal(t, map[string]any{"cleared": false}, a.data(t))
	a = ask(t, srv, "DELETE", "/v1/events/waited", "", nil)
	assert.Equal(t, map[string]any{"cleared": false}, a.data(t), "a waiter is not a retained event")
	assert.Equal(t, uint64(1), srv.Coord.Stats().Cleared)
	assert.Equal(t, 1, srv.Coord.Stats().Waiters, "the waiter is still there")
	a = ask(t, srv, "POST", "/v1/events/mfa_code/wait", `{"timeoutMs": 0}`, nil)
	assert.Equal(t, 408, a.status)
	a = ask(t, srv, "POST", "/v1/events/other/wait", `{"timeoutMs": 0}`, nil)
	assert.Equal(t, 200, a.status, "another name is left alone")

	ask(t, srv, "POST", "/v1/events/waited", `{"data": {}}`, nil)
	assert.Equal(t, 200, (<-pending).status)
	assert.Contains(t, metrics(t, srv), `eventcoord_signal_outcomes_total{outcome="cleared"} 1`)
}

func TestListShowsTheKeysNamesOnly(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithKeys([]string{key, "other"}))
	before := time.Now()
	for _, n := range []string{"c", "a", "b"} {
		ask(t, srv, "POST", "/v1/events/"+n, `{"data": {"n": "`+n+`"}}`, nil)
	}
	call(t, srv, "POST", "/v1/events/z", "other", `{"data": {}}`)
	pending := goCall(t, srv, "/v1/events/d/wait", `{"timeoutMs": 600000}`)
	srv.AwaitWaiters(t, 1)

	a := ask(t, srv, "GET", "/v1/events?limit=2", "", nil)
	require.Equal(t, 200, a.status, "%v", a.body)
	d := a.data(t)
	assert.Equal(t, "b", d["next"])
	assert.Equal(t, map[string]any{"names": 4.0, "waiters": 1.0, "retained": 3.0, "retainedBytes": 3 * 9.0}, d["scope"])
	names := d["names"].([]any)
	require.Len(t, names, 2)
	first := names[0].(map[string]any)
	at, err := time.Parse(time.RFC3339Nano, first["signaledAt"].(string))
	require.NoError(t, err)
	assert.WithinRange(t, at, before, time.Now())
	delete(first, "signaledAt")
	assert.Equal(t, map[string]any{"name": "a", "waiters": 0.0, "retained": true, "seq": 2.0, "size": 9.0}, first)

	a = ask(t, srv, "GET", "/api/v1/events?after=b", "", nil)
	d = a.data(t)
	assert.Equal(t, "", d["next"])
	names = d["names"].([]any)
	require.Len(t, names, 2)
	assert.Equal(t, "c", names[0].(map[string]any)["name"])
	assert.Equal(t, map[string]any{"name": "d", "waiters": 1.0, "retained": false}, names[1], "a name with a waiter only")

	// The other key sees its own name only.
	status, out := call(t, srv, "GET", "/v1/events", "other", "")
	require.Equal(t, 200, status)
	assert.Len(t, out["data"].(map[string]any)["names"], 1)

	ask(t, srv, "POST", "/v1/events/d", `{"data": {}}`, nil)
	assert.Equal(t, 200, (<-pending).status)
}

// Hostile list queries get a clear 400 and change nothing.
func TestBadListQueriesAreRefused(t *testing.T) {
	srv := testserver.Start(t)
	ask(t, srv, "POST", "/v1/events/a", `{"data": {}}`, nil)
	for query, want := range map[string]string{
		"limit=-1":                           "limit must not be negative: give 0 (the default, 100 names) to 1000",
		"limit=ten":                          "limit must be an integer from 0 (the default, 100 names) to 1000",
		"limit=1.0":                          "limit must be an integer from 0 (the default, 100 names) to 1000",
		"limit=+1":                           "limit must be an integer from 0 (the default, 100 names) to 1000",
		"limit=1&limit=2":                    "Query parameter limit is given more than once",
		"after=a&after=b":                    "Query parameter after is given more than once",
		"after=%FF":                          "after must be an event name, the next of the previous page: not valid UTF-8",
		"after=" + strings.Repeat("x", 1025): "after must be an event name, the next of the previous page: 1025 bytes, the limit is 1024",
		"after=%zz":                          `The query string is not valid: invalid URL escape "%zz"`,
	} {
		before := srv.Coord.Stats()
		a := ask(t, srv, "GET", "/v1/events?"+query, "", nil)
		assert.Equal(t, errBody(400, want), a.body, "%.60s", query)
		assert.Equal(t, before, srv.Coord.Stats(), query)
	}
	a := ask(t, srv, "GET", "/v1/events?limit=-1", "", nil)
	assert.Equal(t, httpapi.KindBadListLimit, a.header.Get(httpapi.ErrorHeader), "eventd's own route: the kind, unasked")
	for _, query := range []string{"limit=99999999999999999999999", "limit=5000", "limit=0", "after=", "unknown=1"} {
		a := ask(t, srv, "GET", "/v1/events?"+query, "", nil)
		assert.Equal(t, 200, a.status, "%s: %v", query, a.body)
	}
}
