package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const key = "test-key"

// call sends a POST (or method) with the API key and a JSON body, and
// returns the status and the decoded JSON answer. It fails the test at
// once, so call it from the test's goroutine; elsewhere use callE.
func call(t testing.TB, srv *testserver.Server, method, path, apiKey, body string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang fails, late
	defer cancel()
	status, out, err := callE(ctx, srv, method, path, apiKey, body)
	require.NoError(t, err)
	return status, out
}

// callE is call for any goroutine: it returns what went wrong.
func callE(ctx context.Context, srv *testserver.Server, method, path, apiKey, body string) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if apiKey != "" {
		req.Header.Set("anchor-api-key", apiKey)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, nil, fmt.Errorf("body %q is not JSON: %w", raw, err)
	}
	return resp.StatusCode, out, nil
}

// reply is what callE returned.
type reply struct {
	status int
	out    map[string]any
	err    error
}

// goCall runs callE in a goroutine that the test joins on every path: its
// context ends and it is waited for when the test ends. The answer comes
// on the returned channel.
func goCall(t *testing.T, srv *testserver.Server, path, body string) <-chan reply {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan reply, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		status, out, err := callE(ctx, srv, "POST", path, key, body)
		ch <- reply{status, out, err}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ch
}

func errBody(code int, message string) map[string]any {
	return map[string]any{"error": map[string]any{"code": float64(code), "message": message}}
}

func TestSignalFirstIsRetainedForTheNextWait(t *testing.T) {
	srv := testserver.Start(t)
	status, out := call(t, srv, "POST", "/v1/events/workflow_completed", key,
		`{"data": {"result": "success", "big": 12345678901234567890, "nested": {"a": [1, 2.5]}}}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"status": "signaled", "woken": 0.0, "retained": true, "seq": 1.0}, out["data"])

	status, out = call(t, srv, "POST", "/api/v1/events/workflow_completed/wait", key, `{"timeoutMs": 1000}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"result": "success", "big": 12345678901234567890.0, "nested": map[string]any{"a": []any{1.0, 2.5}}}, out["data"])
}

func TestNumbersKeepTheirDigits(t *testing.T) {
	srv := testserver.Start(t)
	call(t, srv, "POST", "/v1/events/n", key, `{"data": {"big": 12345678901234567890}}`)
	resp, err := srv.Client().Post(srv.URL+"/v1/events/n/wait", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	req, _ := http.NewRequest("POST", srv.URL+"/v1/events/n/wait", nil)
	req.Header.Set("anchor-api-key", key)
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	assert.JSONEq(t, `{"data": {"big": 12345678901234567890}}`, string(raw))
	assert.Contains(t, string(raw), "12345678901234567890", "no float rounding")
}

func TestFanOutToFiftyHTTPWaiters(t *testing.T) {
	srv := testserver.Start(t)
	const n = 50
	var waits []<-chan reply
	for range n {
		waits = append(waits, goCall(t, srv, "/v1/events/mfa_code/wait", `{"timeoutMs": 600000}`))
	}
	srv.AwaitWaiters(t, n)
	status, out := call(t, srv, "POST", "/v1/events/mfa_code", key, `{"data": {"code": "123456"}}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, float64(n), out["data"].(map[string]any)["woken"])
	for _, w := range waits {
		a := <-w
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusOK, a.status)
		assert.Equal(t, map[string]any{"code": "123456"}, a.out["data"])
	}
}

func TestWaitTimesOutWith408(t *testing.T) {
	srv := testserver.Start(t)
	status, out := call(t, srv, "POST", "/v1/events/nobody/wait", key, `{"timeoutMs": 20}`)
	assert.Equal(t, http.StatusRequestTimeout, status)
	assert.Equal(t, errBody(408, "Event was not signaled within the specified timeout"), out)
	assert.Equal(t, 0, srv.Coord.Stats().Waiters)
}

func TestWaitTimeoutIsClampedToTheCeiling(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithMaxWait(30*time.Millisecond))
	// Without the clamp this would block for 10 minutes and the call's
	// 2-minute deadline would fail the test.
	status, _ := call(t, srv, "POST", "/v1/events/x/wait", key, `{"timeoutMs": 600000}`)
	assert.Equal(t, http.StatusRequestTimeout, status)
	status, _ = call(t, srv, "POST", "/v1/events/x/wait", key, `{"timeoutMs": 1e300}`)
	assert.Equal(t, http.StatusRequestTimeout, status)
}

func TestErrorStatuses(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithKeys([]string{key, "other"}), httpapi.WithMaxBody(64))
	long := strings.Repeat("a", eventcoord.MaxNameLen+1)
	tests := []struct {
		name, method, path, key, body string
		status                        int
		message                       string // "" checks the status only
	}{
		{"no key", "POST", "/v1/events/x", "", `{"data":{}}`, 401, "Invalid API key"},
		{"unknown key", "POST", "/v1/events/x/wait", "nope", `{}`, 401, "Invalid API key"},
		{"data missing", "POST", "/v1/events/x", key, `{}`, 400, "Event data is required"},
		{"data null", "POST", "/v1/events/x", key, `{"data":null}`, 400, "Event data is required"},
		{"empty body", "POST", "/v1/events/x", key, ``, 400, "Event data is required"},
		{"data an array", "POST", "/v1/events/x", key, `{"data":[1]}`, 400, "Event data must be a JSON object"},
		{"data a string", "POST", "/v1/events/x", key, `{"data":"hi"}`, 400, "Event data must be a JSON object"},
		{"body not JSON", "POST", "/v1/events/x", key, `data=1`, 400, ""},
		{"body an array", "POST", "/v1/events/x", key, `[]`, 400, ""},
		{"trailing garbage", "POST", "/v1/events/x", key, `{"data":{}} {}`, 400, ""},
		{"negative timeout", "POST", "/v1/events/x/wait", key, `{"timeoutMs":-1}`, 400, "timeoutMs must be a non-negative integer number of milliseconds"},
		{"fractional timeout", "POST", "/v1/events/x/wait", key, `{"timeoutMs":1.5}`, 400, "timeoutMs must be a non-negative integer number of milliseconds"},
		{"string timeout", "POST", "/v1/events/x/wait", key, `{"timeoutMs":"5"}`, 400, ""},
		{"name not UTF-8", "POST", "/v1/events/%FF", key, `{"data":{}}`, 400, "Invalid event name: not valid UTF-8"},
		{"name too long", "POST", "/v1/events/" + long + "/wait", key, `{}`, 400, fmt.Sprintf("Invalid event name: %d bytes, the limit is 1024", len(long))},
		{"unknown path", "POST", "/v1/nothing", key, `{}`, 404, "Not found"},
		{"GET signal", "GET", "/v1/events/x", key, ``, 405, "Method GET is not allowed; use POST or DELETE"},
		{"PUT wait", "PUT", "/v1/events/x/wait", key, ``, 405, "Method PUT is not allowed; use POST"},
		{"body too large", "POST", "/v1/events/x", key, `{"data":{"s":"` + strings.Repeat("x", 100) + `"}}`, 413, "Request body is larger than 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Coord.Stats()
			status, out := call(t, srv, tt.method, tt.path, tt.key, tt.body)
			assert.Equal(t, tt.status, status, "%v", out)
			if tt.message != "" {
				assert.Equal(t, errBody(tt.status, tt.message), out)
			} else {
				assert.Equal(t, float64(tt.status), out["error"].(map[string]any)["code"], "%v", out)
			}
			assert.Equal(t, before, srv.Coord.Stats(), "bad input changes nothing")
		})
	}
}

func TestDeepDataIsRefused(t *testing.T) {
	srv := testserver.Start(t)
	deep := `{"data":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `}`
	status, out := call(t, srv, "POST", "/v1/events/x", key, deep)
	assert.Equal(t, errBody(400, "Event data is nested deeper than 64 levels"), out)
	assert.Equal(t, 400, status)
}

func TestMethodNotAllowedNamesAllow(t *testing.T) {
	srv := testserver.Start(t)
	req, _ := http.NewRequest("DELETE", srv.URL+"/v1/events/x/wait", nil)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))

	// A GET serves HEAD too, so Allow names it.
	for path, allow := range map[string]string{
		"/v1/events":           "GET, HEAD",
		"/v1/events/x":         "POST, DELETE",
		"/v1/waiters/abc":      "GET, HEAD, DELETE",
		"/v1/waiters/abc/wait": "POST",
	} {
		req, _ := http.NewRequest("PUT", srv.URL+path, nil)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, path)
		assert.Equal(t, allow, resp.Header.Get("Allow"), path)
		req, _ = http.NewRequest("HEAD", srv.URL+path, nil)
		req.Header.Set("anchor-api-key", key)
		resp, err = srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, strings.Contains(allow, "HEAD"), resp.StatusCode != http.StatusMethodNotAllowed, "HEAD %s: %d", path, resp.StatusCode)
	}
}

func TestWrongContentTypeIs415(t *testing.T) {
	srv := testserver.Start(t)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/events/x", strings.NewReader(`{"data":{}}`))
	req.Header.Set("anchor-api-key", key)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Zero(t, srv.Coord.Stats().Signals)
}

func TestOversizedBodyIsRefusedWithoutReadingIt(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithMaxBody(1024))
	// A chunked body (no Content-Length) of 64 MiB: the server must stop at
	// the limit, not read it all.
	var sent atomic.Int64 // the transport may still be writing when Do returns
	body := io.LimitReader(readerFunc(func(p []byte) (int, error) {
		for i := range p {
			p[i] = 'x'
		}
		sent.Add(int64(len(p)))
		return len(p), nil
	}), 64<<20)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/events/x", io.MultiReader(strings.NewReader(`{"data":{"s":"`), body))
	req.Header.Set("anchor-api-key", key)
	resp, err := srv.Client().Do(req)
	if err == nil { // the server may also close the connection mid-upload
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	}
	assert.Less(t, sent.Load(), int64(64<<20), "the client was stopped before sending everything")
	assert.Zero(t, srv.Coord.Stats().Signals)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestScopesAreIsolatedByKey(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithKeys([]string{"alice", "bob"}))
	status, _ := call(t, srv, "POST", "/v1/events/x", "alice", `{"data":{"who":"alice"}}`)
	require.Equal(t, 200, status)
	status, _ = call(t, srv, "POST", "/v1/events/x/wait", "bob", `{"timeoutMs":20}`)
	assert.Equal(t, 408, status, "bob never sees alice's event")
	status, out := call(t, srv, "POST", "/v1/events/x/wait", "alice", `{"timeoutMs":1000}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"who": "alice"}, out["data"])
}

func TestOpenModeGivesEachKeyItsOwnScope(t *testing.T) {
	srv := testserver.Start(t)
	require.True(t, srv.Handler.Open())
	call(t, srv, "POST", "/v1/events/x", "one", `{"data":{}}`)
	status, _ := call(t, srv, "POST", "/v1/events/x/wait", "two", `{"timeoutMs":20}`)
	assert.Equal(t, 408, status)
	status, _ = call(t, srv, "POST", "/v1/events/x/wait", "one", `{"timeoutMs":1000}`)
	assert.Equal(t, 200, status)
}

func TestClientThatLeavesIsDeregisteredAndTheSignalRetained(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/events/x/wait", strings.NewReader(`{"timeoutMs":600000}`))
		req.Header.Set("anchor-api-key", key)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	srv.AwaitWaiters(t, 1)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	srv.AwaitWaiters(t, 0)

	status, out := call(t, srv, "POST", "/v1/events/x", key, `{"data":{"n":1}}`)
	require.Equal(t, 200, status)
	assert.Equal(t, true, out["data"].(map[string]any)["retained"], "nobody waits any more: the signal is kept")
	status, out = call(t, srv, "POST", "/v1/events/x/wait", key, `{"timeoutMs":1000}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"n": 1.0}, out["data"])
}

func TestDrainAnswersWaitsWith503AndKeepsSignals(t *testing.T) {
	srv := testserver.Start(t)
	pending := goCall(t, srv, "/v1/events/x/wait", `{"timeoutMs":600000}`)
	srv.AwaitWaiters(t, 1)
	srv.Handler.Drain()
	a := <-pending
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)

	status, out := call(t, srv, "POST", "/v1/events/y/wait", key, `{}`)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, errBody(503, "Server is shutting down"), out)
	status, _ = call(t, srv, "POST", "/v1/events/x", key, `{"data":{}}`)
	assert.Equal(t, http.StatusOK, status, "signals are still served")
	assert.True(t, srv.Coord.Stats().Retained == 1, "the drained waiter left before the signal")
}

func TestClosedCoordinatorIs503(t *testing.T) {
	srv := testserver.Start(t)
	srv.Coord.Close()
	status, out := call(t, srv, "POST", "/v1/events/x", key, `{"data":{}}`)
	assert.Equal(t, 503, status)
	assert.Equal(t, errBody(503, "Server is shutting down"), out)
}

// failing is an Events whose store has failed, for the 500 answers.
type failing struct{ eventcoord.Events }

func (failing) Signal(context.Context, string, eventcoord.Data) (eventcoord.Receipt, error) {
	return eventcoord.Receipt{}, errors.New("disk on fire")
}

func (failing) Wait(context.Context, string, ...eventcoord.WaitOption) (eventcoord.Event, error) {
	return eventcoord.Event{}, errors.New("disk on fire")
}

func TestBackendFailureIs500(t *testing.T) {
	h := httpapi.New(func(string) eventcoord.Events { return failing{} })
	for path, body := range map[string]string{"/v1/events/x": `{"data":{}}`, "/v1/events/x/wait": `{}`} {
		rec := serve(h, path, body)
		assert.Equal(t, 500, rec.status, path)
		assert.Contains(t, rec.body, `"code":500`)
	}
	assert.Contains(t, serve(h, "/v1/events/x", `{"data":{}}`).body, "Failed to signal event")
}

type recorded struct {
	status int
	body   string
}

// serve runs one request through h on a real loopback server.
func serve(h http.Handler, path, body string) recorded {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return recorded{body: err.Error()}
	}
	srv := &http.Server{Handler: h}
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ln) })
	defer wg.Wait()
	defer srv.Close()
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+path, strings.NewReader(body))
	req.Header.Set("anchor-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return recorded{body: err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return recorded{resp.StatusCode, string(raw)}
}

func TestHealthz(t *testing.T) {
	srv := testserver.Start(t)
	status, out := call(t, srv, "GET", "/healthz", "", "")
	assert.Equal(t, 200, status)
	assert.Equal(t, "ok", out["status"])

	sick := testserver.Start(t, httpapi.WithHealth(func(context.Context) error { return errors.New("redis down") }))
	status, out = call(t, sick, "GET", "/healthz", "", "")
	assert.Equal(t, 503, status)
	assert.Equal(t, "redis down", out["error"])
}

func TestMetricsAndLogsNeverShowKeysOrData(t *testing.T) {
	var logs bytes.Buffer
	secret := "s3cret-key-value"
	srv := testserver.Start(t,
		httpapi.WithKeys([]string{secret}),
		httpapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	call(t, srv, "POST", "/v1/events/x", secret, `{"data":{"payload":"private-data"}}`)
	call(t, srv, "POST", "/v1/events/x/wait", secret, `{"timeoutMs":1000}`)
	call(t, srv, "POST", "/v1/events/x/wait", secret, `{"timeoutMs":1}`)
	call(t, srv, "POST", "/v1/events/x", "wrong-key", `{"data":{}}`)

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(raw)
	assert.Contains(t, metrics, `eventd_signals_total{outcome="retained"} 1`)
	assert.Contains(t, metrics, `eventd_waits_total{outcome="event"} 1`)
	assert.Contains(t, metrics, `eventd_waits_total{outcome="timeout"} 1`)
	assert.Contains(t, metrics, `eventd_waiters 0`)
	assert.Contains(t, metrics, `eventd_http_request_duration_seconds_count{code="401",method="POST",route="/v1/events/{event_name}"} 1`)
	assert.Contains(t, metrics, "go_goroutines")

	assert.Contains(t, logs.String(), `"status":408`, "requests are logged at debug level")
	for _, leak := range []string{secret, "wrong-key", "private-data"} {
		assert.NotContains(t, metrics, leak)
		assert.NotContains(t, logs.String(), leak)
	}
}

func TestSlowBodyIsCutOff(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithBodyTimeout(50*time.Millisecond))
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	// Promise 100 bytes, send 10, then stall.
	fmt.Fprintf(conn, "POST /v1/events/x HTTP/1.1\r\nHost: x\r\nanchor-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"data\":{}", key)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	} else {
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server held the connection open: %v", err)
	}
	assert.Zero(t, srv.Coord.Stats().Signals)
}

func TestEmptyBodyNeedsNoContentType(t *testing.T) {
	srv := testserver.Start(t)
	call(t, srv, "POST", "/v1/events/x", key, `{"data":{}}`)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/events/x/wait", nil)
	req.Header.Set("anchor-api-key", key)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // what curl -d '' sends
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
