package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// rawRequest sends one request of its own making on a new connection and
// returns the connection and a reader of the answer. The connection is
// closed when the test ends.
func rawRequest(t *testing.T, srv *testserver.Server, request string) (*net.TCPConn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute))) // a hang fails, never blocks the run
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	return conn.(*net.TCPConn), bufio.NewReader(conn)
}

// readAnswer reads an HTTP answer and requires its body to be Anchor's
// error shape with the answer's status as its code.
func readAnswer(t *testing.T, rd *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(rd, &http.Request{Method: method})
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(raw)
}

func requireErrorBody(t *testing.T, resp *http.Response, body string) string {
	t.Helper()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%d %s", resp.StatusCode, body)
	var out struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out), "%d %q is JSON", resp.StatusCode, body)
	require.NotNil(t, out.Error, "%d %s has Anchor's error shape", resp.StatusCode, body)
	assert.Equal(t, resp.StatusCode, out.Error.Code)
	assert.NotEmpty(t, out.Error.Message)
	return out.Error.Message
}

// series returns the label sets of the request-duration histogram.
func series(t *testing.T, srv *testserver.Server) []map[string]string {
	t.Helper()
	var out []map[string]string
	labels := regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
	for line := range strings.Lines(metrics(t, srv)) {
		if !strings.HasPrefix(line, "eventd_http_request_duration_seconds_count{") {
			continue
		}
		set := map[string]string{}
		for _, m := range labels.FindAllStringSubmatch(line, -1) {
			set[m[1]] = m[2]
		}
		out = append(out, set)
	}
	return out
}

func TestMetricLabelsComeFromAFixedSet(t *testing.T) {
	srv := testserver.Start(t)
	hc := srv.Client()
	for i := range 300 {
		method := fmt.Sprintf("M%d", i)
		if i%100 == 0 {
			method = strings.Repeat("X", 20_000) + method
		}
		path := fmt.Sprintf("/random/%d/%s", i, strings.Repeat("p", i))
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	}
	for _, m := range []string{"BREW", "get", "PUT"} { // unknown methods on a known route
		req, err := http.NewRequest(m, srv.URL+"/v1/events/x", nil)
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	}

	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
		"OPTIONS": true, "CONNECT": true, "TRACE": true, "other": true}
	routes := map[string]bool{"/": true, "/healthz": true, "/metrics": true}
	for _, prefix := range []string{"", "/api"} {
		routes[prefix+"/v1/events/{event_name}"] = true
		routes[prefix+"/v1/events/{event_name}/wait"] = true
	}
	all := series(t, srv)
	assert.LessOrEqual(t, len(all), 6, "300 strangers made %d series", len(all))
	var strangers []string
	for _, set := range all {
		if !methods[set["method"]] || !routes[set["route"]] {
			strangers = append(strangers, fmt.Sprintf("%.40s %.40s", set["method"], set["route"]))
		}
	}
	assert.Empty(t, strangers, "labels from outside the fixed sets")
	assert.Contains(t, all, map[string]string{"route": "/", "method": "other", "code": "404"})
	assert.Contains(t, all, map[string]string{"route": "/v1/events/{event_name}", "method": "other", "code": "405"})
}

func TestEveryAnswerIsJSON(t *testing.T) {
	srv := testserver.Start(t)
	for _, path := range []string{
		"/v1//events/a", "/./v1/events/a", "/x/../v1/events/a", "/v1/events/./wait", "/v1/events/a/../b",
		"/v1/events/..", "//v1/events/a", "/v1/events/a/.", "*",
	} {
		t.Run(path, func(t *testing.T) {
			_, rd := rawRequest(t, srv, "POST "+path+" HTTP/1.1\r\nHost: x\r\nanchor-api-key: "+key+
				"\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"data\":{}}")
			resp, body := readAnswer(t, rd, "POST")
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, body)
			assert.Empty(t, resp.Header.Get("Location"), "no redirect")
			requireErrorBody(t, resp, body)
		})
	}
	for _, request := range []string{
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	} {
		_, rd := rawRequest(t, srv, request)
		resp, body := readAnswer(t, rd, strings.Fields(request)[0])
		assert.GreaterOrEqual(t, resp.StatusCode, 400, "%q: %s", request, body)
		requireErrorBody(t, resp, body)
	}
	assert.Zero(t, srv.Coord.Stats().Signals, "no path that is not the route reached it")
}

func TestBodyErrorsAreWrittenForPeople(t *testing.T) {
	srv := testserver.Start(t)
	for body, want := range map[string]string{
		`[]`:                      "Request body must be a JSON object, not an array",
		`[{"data":{}}]`:           "Request body must be a JSON object, not an array",
		`"hello"`:                 "Request body must be a JSON object, not a string",
		`12`:                      "Request body must be a JSON object, not a number",
		`true`:                    "Request body must be a JSON object, not a boolean",
		`{"data":{}} {}`:          "Request body must hold one JSON object and nothing after it",
		`{"data":{"a":}`:          "Request body is not valid JSON: invalid character '}' looking for beginning of value (at byte 14)",
		`{"data":{"a":"b"`:        "Request body is not valid JSON: it ends too early",
		"{\"data\":{\"a\":\x01}}": "Request body is not valid JSON: invalid character '\\x01' looking for beginning of value (at byte 14)",
	} {
		for _, path := range []string{"/v1/events/x", "/v1/events/x/wait"} {
			status, out := call(t, srv, "POST", path, key, body)
			assert.Equal(t, http.StatusBadRequest, status, "%s %s", path, body)
			assert.Equal(t, errBody(400, want), out, "%s %s", path, body)
		}
	}
}

func TestHalfClosedWaiterGetsAnHonestAnswer(t *testing.T) {
	srv := testserver.Start(t)
	// nc -N: the request, then shutdown(SHUT_WR), then read until the end.
	conn, rd := rawRequest(t, srv, "POST /v1/events/x/wait HTTP/1.1\r\nHost: x\r\nanchor-api-key: "+key+
		"\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"timeoutMs\":60000}")
	require.NoError(t, conn.CloseWrite())
	resp, body := readAnswer(t, rd, "POST")
	require.NotEqual(t, http.StatusOK, resp.StatusCode, "200 without the event: %q", body)
	assert.Equal(t, httpapi.StatusClientClosed, resp.StatusCode)
	assert.Contains(t, requireErrorBody(t, resp, body), "closed its side of the connection")
	srv.AwaitWaiters(t, 0)

	status, out := call(t, srv, "POST", "/v1/events/x", key, `{"data":{}}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, out["data"].(map[string]any)["retained"], "the waiter left: the signal is kept")
	m := metrics(t, srv)
	assert.Contains(t, m, `eventd_waits_total{outcome="cancelled"} 1`)
	assert.Contains(t, m, `eventd_http_request_duration_seconds_count{code="499",method="POST",route="/v1/events/{event_name}/wait"} 1`)
	assert.NotContains(t, m, `code="200",method="POST",route="/v1/events/{event_name}/wait"`)
}

func TestClientThatLeavesIsRecordedAs499(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/events/x/wait", strings.NewReader(`{"timeoutMs":60000}`))
		req.Header.Set("anchor-api-key", key)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	srv.AwaitWaiters(t, 1)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	// The handler records the request after the waiter has left.
	route := `method="POST",route="/v1/events/{event_name}/wait"`
	testserver.Await(t, "the cancelled wait is recorded", func() bool {
		return strings.Contains(metrics(t, srv), `eventd_http_request_duration_seconds_count{code="499",`+route+`} 1`)
	})
	assert.NotContains(t, metrics(t, srv), `code="200",`+route)
}

func TestZeroTimeoutIsAPoll(t *testing.T) {
	srv := testserver.Start(t)
	status, _ := call(t, srv, "POST", "/v1/events/x", key, `{"data":{"n":1}}`)
	require.Equal(t, http.StatusOK, status)
	status, out := call(t, srv, "POST", "/v1/events/x/wait", key, `{"timeoutMs": 0}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, map[string]any{"n": 1.0}, out["data"])

	status, out = call(t, srv, "POST", "/v1/events/x/wait", key, `{"timeoutMs": 0}`)
	assert.Equal(t, http.StatusRequestTimeout, status)
	assert.Equal(t, errBody(408, "Event was not signaled within the specified timeout"), out)
	assert.Zero(t, srv.Coord.Stats().Names, "a poll that found nothing leaves nothing")
	assert.Contains(t, metrics(t, srv), `eventd_waits_total{outcome="timeout"} 1`)

	srv.Handler.Drain()
	status, _ = call(t, srv, "POST", "/v1/events/x/wait", key, `{"timeoutMs": 0}`)
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

// bigBody sends a request whose body of n bytes is refused, all of it before
// reading the answer, as Node's http module does, and returns the answer.
func bigBody(t *testing.T, srv *testserver.Server, apiKey string, n int) (*http.Response, string) {
	conn, rd := rawRequest(t, srv, fmt.Sprintf("POST /v1/events/x HTTP/1.1\r\nHost: x\r\nanchor-api-key: %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", apiKey, n))
	chunk := []byte(strings.Repeat("x", 64<<10))
	for sent := 0; sent < n; sent += len(chunk) {
		_, err := conn.Write(chunk[:min(len(chunk), n-sent)])
		require.NoError(t, err, "the server cut the upload off after %d bytes", sent)
	}
	return readAnswer(t, rd, "POST")
}

func TestRefusedBodyIsDrainedSoTheClientReadsTheAnswer(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithKeys([]string{key}))
	resp, body := bigBody(t, srv, key, 20<<20)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, "Request body is larger than 1048576 bytes", requireErrorBody(t, resp, body))

	resp, body = bigBody(t, srv, "wrong-key", 20<<20)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	requireErrorBody(t, resp, body)
	assert.Zero(t, srv.Coord.Stats().Signals)
}
