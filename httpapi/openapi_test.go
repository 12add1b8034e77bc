package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()), "the document is valid OpenAPI")
	require.True(t, doc.IsOpenAPI31OrLater())
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	// Anchor's two operations, as its SDKs call them, and under /api.
	for _, prefix := range []string{"", "/api"} {
		signal := doc.Paths.Find(prefix + "/v1/events/{event_name}")
		require.NotNil(t, signal, prefix)
		require.NotNil(t, signal.Post, prefix)
		body := signal.Post.RequestBody.Value
		assert.True(t, body.Required)
		assert.Equal(t, []string{"data"}, body.Content.Get("application/json").Schema.Value.Required)
		wait := doc.Paths.Find(prefix + "/v1/events/{event_name}/wait")
		require.NotNil(t, wait, prefix)
		require.NotNil(t, wait.Post, prefix)
		assert.False(t, wait.Post.RequestBody.Value.Required)
		assert.Contains(t, wait.Post.RequestBody.Value.Content.Get("application/json").Schema.Value.Properties, "timeoutMs")
		for _, op := range []*openapi3.Operation{signal.Post, wait.Post} {
			require.NotNil(t, op.Security)
			require.Len(t, *op.Security, 1)
			assert.Contains(t, (*op.Security)[0], "apiKey")
		}
	}
	key := doc.Components.SecuritySchemes["apiKey"].Value
	assert.Equal(t, []string{"apiKey", "header", "anchor-api-key"}, []string{key.Type, key.In, key.Name})
}

// failingEvents is an Events whose every call fails with err.
type failingEvents struct {
	eventcoord.Events
	err error
}

func (f failingEvents) Signal(context.Context, string, eventcoord.Data) (eventcoord.Receipt, error) {
	return eventcoord.Receipt{}, f.err
}

func (f failingEvents) Wait(context.Context, string, ...eventcoord.WaitOption) (eventcoord.Event, error) {
	return eventcoord.Event{}, f.err
}

func (f failingEvents) Register(context.Context, string, ...eventcoord.WaitOption) (eventcoord.Registration, error) {
	return nil, f.err
}

func (f failingEvents) Clear(context.Context, string) (bool, error) { return false, f.err }

func (f failingEvents) List(context.Context, eventcoord.ListOptions) (eventcoord.Listing, error) {
	return eventcoord.Listing{}, f.err
}

// openAPIChecker sends requests to a server over loopback HTTP and
// validates each request and its answer against the document, recording
// which operation answered which status.
type openAPIChecker struct {
	t   *testing.T
	doc *openapi3.T

	mu   sync.Mutex
	seen map[string]map[int]bool // by operationId, or "NotFound" and "MethodNotAllowed"
}

func newOpenAPIChecker(t *testing.T) *openAPIChecker {
	return &openAPIChecker{t: t, doc: loadOpenAPI(t), seen: map[string]map[int]bool{}}
}

// router returns a router of the document for the server at base.
func (c *openAPIChecker) router(base string) routers.Router {
	doc := *c.doc
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := legacy.NewRouter(&doc)
	require.NoError(c.t, err)
	return r
}

func (c *openAPIChecker) saw(op string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[op] == nil {
		c.seen[op] = map[int]bool{}
	}
	c.seen[op][status] = true
}

// exchange is one request to send and what to expect of it.
type exchange struct {
	method, path, contentType, key, body string
	noKey                                bool
	halfClose                            bool // close the sending side after the request (a 499 for a wait)
	status                               int  // the status the handler must answer
	requestValid                         bool // whether the document accepts the request
}

func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.RequestValidationInput.Request.Header.Get("anchor-api-key") == "" {
		return errors.New("no anchor-api-key header")
	}
	return nil
}

// do sends e to the server at base and checks the request and the answer
// against the document. It does not fail the test itself, so it may run
// on any goroutine: it returns what failed.
func (c *openAPIChecker) do(base string, router routers.Router, e exchange) (http.Header, []byte, error) {
	req, err := http.NewRequest(e.method, base+e.path, strings.NewReader(e.body))
	if err != nil {
		return nil, nil, err
	}
	if e.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if e.contentType != "" {
		req.Header.Set("Content-Type", e.contentType)
	}
	if !e.noKey {
		req.Header.Set("anchor-api-key", cmp(e.key, "k1"))
	}
	resp, body, err := send(req, e.body, e.halfClose)
	if err != nil {
		return nil, nil, err
	}
	what := fmt.Sprintf("%s %s %q", e.method, e.path, e.body)
	if resp.StatusCode != e.status {
		return nil, nil, fmt.Errorf("%s: status %d; want %d: %s", what, resp.StatusCode, e.status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" && !(e.path == "/metrics" && resp.StatusCode == http.StatusOK) {
		return nil, nil, fmt.Errorf("%s: Content-Type %q; want application/json", what, ct)
	}
	if resp.StatusCode >= 400 && !(e.path == "/healthz" && resp.StatusCode == http.StatusServiceUnavailable) { // its own body
		var eb struct{ Error struct{ Code int } }
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != resp.StatusCode {
			return nil, nil, fmt.Errorf("%s: error body %s: code is not the status %d", what, body, resp.StatusCode)
		}
	}

	// The request as sent, again, for the validator.
	check, _ := http.NewRequest(e.method, base+e.path, strings.NewReader(e.body))
	check.Header = req.Header.Clone()
	if e.method == http.MethodHead { // GET's route, answered without a body
		check.Method = http.MethodGet
		if _, _, err := router.FindRoute(check); err != nil {
			return nil, nil, fmt.Errorf("%s: HEAD of a path the document has no GET for: %v", what, err)
		}
		return resp.Header, body, nil
	}
	route, params, err := router.FindRoute(check)
	if err != nil { // no operation: the answer is one of the document's shared responses
		name := map[int]string{http.StatusNotFound: "NotFound", http.StatusMethodNotAllowed: "MethodNotAllowed"}[resp.StatusCode]
		if name == "" {
			return nil, nil, fmt.Errorf("%s: answered %d, but the document has no operation for it: %v", what, resp.StatusCode, err)
		}
		if err := c.sharedResponse(name, resp, body); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", what, err)
		}
		c.saw(name, resp.StatusCode)
		return resp.Header, body, nil
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true}}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case e.requestValid && reqErr != nil:
		return nil, nil, fmt.Errorf("%s: the document refuses the request: %v", what, reqErr)
	case !e.requestValid && reqErr == nil:
		return nil, nil, fmt.Errorf("%s: the document accepts the request, which the handler answers %d", what, resp.StatusCode)
	}
	in.Options = &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options,
	}); err != nil {
		return nil, nil, fmt.Errorf("%s: the document does not describe the answer %d %s: %v", what, resp.StatusCode, body, err)
	}
	// The schemas leave objects open, as JSON Schema does by default; what
	// eventd sends must still be documented, field by field.
	if mt := route.Operation.Responses.Status(resp.StatusCode).Value.Content.Get("application/json"); mt != nil {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", what, err)
		}
		if extra := undocumented(mt.Schema.Value, v, ""); len(extra) > 0 {
			return nil, nil, fmt.Errorf("%s: the answer %s has fields the document does not name: %v", what, body, extra)
		}
	}
	c.saw(route.Operation.OperationID, resp.StatusCode)
	return resp.Header, body, nil
}

// undocumented returns the paths of the fields of v that schema s does
// not name, except inside objects it declares open (additionalProperties).
func undocumented(s *openapi3.Schema, v any, at string) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if ap := s.AdditionalProperties; (ap.Has != nil && *ap.Has) || ap.Schema != nil {
		return nil
	}
	var out []string
	for k, x := range obj {
		p := s.Properties[k]
		if p == nil {
			out = append(out, at+"."+k)
			continue
		}
		out = append(out, undocumented(p.Value, x, at+"."+k)...)
	}
	return out
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// send sends req (with body) and reads the whole answer. With halfClose,
// it writes req on a connection of its own and closes its sending side.
func send(req *http.Request, body string, halfClose bool) (*http.Response, []byte, error) {
	if !halfClose {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	req.Body = io.NopCloser(strings.NewReader(body))
	if err := req.Write(conn); err != nil {
		return nil, nil, err
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// sharedResponse checks an answer against the document's component
// response name: its JSON body's schema and its headers.
func (c *openAPIChecker) sharedResponse(name string, resp *http.Response, body []byte) error {
	r := c.doc.Components.Responses[name]
	if r == nil {
		return fmt.Errorf("no components.responses.%s in the document", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s: the answer is not JSON: %s", name, body)
	}
	if err := r.Value.Content.Get("application/json").Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("%s: %s: %v", name, body, err)
	}
	for h := range r.Value.Headers {
		if resp.Header.Get(h) == "" {
			return fmt.Errorf("%s: no %s header", name, h)
		}
	}
	return nil
}

// run runs the exchanges against base, failingEvents the test on the first
// mismatch.
func (c *openAPIChecker) run(base string, es ...exchange) {
	c.t.Helper()
	router := c.router(base)
	for _, e := range es {
		_, _, err := c.do(base, router, e)
		require.NoError(c.t, err)
	}
}

// TestOpenAPIDescribesTheHandler sends requests that provoke every status
// of every route over loopback HTTP, checks each request and answer
// against the document, and then that every status the document lists
// was seen.
func TestOpenAPIDescribesTheHandler(t *testing.T) {
	c := newOpenAPIChecker(t)
	big := `{"data": {"x": "` + strings.Repeat("x", 300) + `"}}`
	const js = "application/json"

	// One server with keys and a small body limit.
	main := testserver.Start(t, httpapi.WithKeys([]string{"k1"}), httpapi.WithMaxBody(256))
	for _, p := range []string{"", "/api"} {
		ev, wait := p+"/v1/events/e", p+"/v1/events/e/wait"
		c.run(main.URL,
			exchange{method: "POST", path: ev, contentType: js, body: `{"data": {"code": "123456", "n": 12345678901234567890123}}`, status: 200, requestValid: true},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": 1000}`, status: 200, requestValid: true},
			exchange{method: "POST", path: ev, contentType: "application/vnd.x+json; charset=utf-8", body: `{"data": {}, "extra": 1}`, status: 200, requestValid: false}, // +json: accepted, not documented
			exchange{method: "POST", path: wait, status: 200, requestValid: true},                                                                                        // no body: the default timeout
			exchange{method: "POST", path: ev, contentType: js, body: `{"data": {}}`, status: 200, requestValid: true},                                                   // retained again
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": null}`, status: 200, requestValid: true},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": 0}`, status: 408, requestValid: true},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": 10}`, status: 408, requestValid: true},
			exchange{method: "POST", path: ev, contentType: js, body: `{}`, status: 400},
			exchange{method: "POST", path: ev, status: 400},
			exchange{method: "POST", path: ev, contentType: js, body: `{"data": null}`, status: 400},
			exchange{method: "POST", path: ev, contentType: js, body: `{"data": [1]}`, status: 400},
			exchange{method: "POST", path: ev, contentType: js, body: `[]`, status: 400},
			exchange{method: "POST", path: ev, contentType: js, body: `{"data": {}`, status: 400},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": -1}`, status: 400},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": "1000"}`, status: 400},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": 1.5}`, status: 400},
			exchange{method: "POST", path: p + "/v1/events/" + strings.Repeat("n", 1025), contentType: js, body: `{"data": {}}`, status: 400, requestValid: true},
			exchange{method: "POST", path: ev, contentType: js, body: `{"data": {}}`, key: "wrong", status: 401, requestValid: true},
			exchange{method: "POST", path: wait, contentType: js, body: `{}`, noKey: true, status: 401},
			exchange{method: "POST", path: ev, contentType: js, body: big, status: 413, requestValid: true},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": 1` + strings.Repeat(" ", 300) + `}`, status: 413, requestValid: true},
			exchange{method: "POST", path: ev, contentType: "text/plain", body: `{"data": {}}`, status: 415},
			exchange{method: "POST", path: wait, contentType: "application/x-www-form-urlencoded", body: `timeoutMs=1`, status: 415},
			exchange{method: "POST", path: wait, contentType: js, body: `{"timeoutMs": 600000}`, halfClose: true, status: httpapi.StatusClientClosed, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/", contentType: js, body: `{"data": {}}`, status: 404},
			exchange{method: "POST", path: p + "/v1/events//wait", status: 404},
			exchange{method: "GET", path: ev, status: 405},
			exchange{method: "DELETE", path: wait, status: 405},
		)
	}
	c.run(main.URL,
		exchange{method: "GET", path: "/healthz", status: 200, requestValid: true},
		exchange{method: "HEAD", path: "/healthz", status: 200, requestValid: true},
		exchange{method: "GET", path: "/metrics", status: 200, requestValid: true},
		exchange{method: "GET", path: "/openapi.json", status: 200, requestValid: true},
		exchange{method: "HEAD", path: "/openapi.json", status: 200, requestValid: true},
		exchange{method: "POST", path: "/healthz", status: 405},
		exchange{method: "PUT", path: "/metrics", status: 405},
		exchange{method: "POST", path: "/openapi.json", contentType: js, body: `{}`, status: 405},
		exchange{method: "GET", path: "/nope", status: 404},
		exchange{method: "POST", path: "/v1/events/a/../b", contentType: js, body: `{"data": {}}`, status: 404},
	)

	// Failing backends: 500, and 503 for an unavailable one (Redis down).
	for status, err := range map[int]error{500: errors.New("boom"), 503: fmt.Errorf("redis: %w", eventcoord.ErrUnavailable)} {
		broken := httptest.NewServer(httpapi.New(func(string) eventcoord.Events { return failingEvents{err: err} },
			httpapi.WithHealth(func(context.Context) error { return errors.New("redis: connection refused") })))
		for _, p := range []string{"", "/api"} {
			c.run(broken.URL,
				exchange{method: "POST", path: p + "/v1/events/e", contentType: js, body: `{"data": {}}`, status: status, requestValid: true},
				exchange{method: "POST", path: p + "/v1/events/e/wait", contentType: js, body: `{"timeoutMs": 1000}`, status: status, requestValid: true},
				exchange{method: "DELETE", path: p + "/v1/events/e", status: status, requestValid: true},
				exchange{method: "GET", path: p + "/v1/events", status: status, requestValid: true},
				exchange{method: "POST", path: p + "/v1/waiters", contentType: js, body: `{"name": "e"}`, status: status, requestValid: true},
			)
		}
		c.run(broken.URL, exchange{method: "GET", path: "/healthz", status: 503, requestValid: true})
		broken.Close()
	}

	// A draining server: 503 for waits.
	draining := testserver.Start(t)
	draining.Handler.Drain()
	for _, p := range []string{"", "/api"} {
		c.run(draining.URL, exchange{method: "POST", path: p + "/v1/events/e/wait", status: 503, requestValid: true})
	}

	// Per-key bounds: 429 with Retry-After, for waits and for signals.
	limited := testserver.Start(t, httpapi.WithMaxWaitsPerKey(1), httpapi.WithSignalRatePerKey(0.001))
	router := c.router(limited.URL)
	for i, p := range []string{"", "/api"} {
		key := "limited" + p
		pending := make(chan error, 1)
		go func() {
			_, _, err := c.do(limited.URL, router, exchange{method: "POST", path: p + "/v1/events/e/wait", key: key, contentType: js,
				body: `{"timeoutMs": 600000}`, status: 200, requestValid: true})
			pending <- err
		}()
		limited.AwaitWaiters(t, 1)
		c.run(limited.URL,
			exchange{method: "POST", path: p + "/v1/events/e/wait", key: key, status: 429, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/e", key: key, contentType: js, body: `{"data": {"i": ` + fmt.Sprint(i) + `}}`, status: 200, requestValid: true},
			exchange{method: "POST", path: p + "/v1/events/e", key: key, contentType: js, body: `{"data": {}}`, status: 429, requestValid: true},
		)
		require.NoError(t, <-pending)
		limited.AwaitWaiters(t, 0)
	}

	c.runEventdRoutes() // openapi_ext_test.go

	// Every status the document lists for an operation was answered, and
	// the shared 404 and 405.
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				var status int
				_, err := fmt.Sscan(code, &status)
				require.NoError(t, err, "%s %s: response %q", method, path, code)
				assert.True(t, c.seen[op.OperationID][status], "%s %s (%s): %d was never answered", method, path, op.OperationID, status)
			}
			var listed []int
			for code := range op.Responses.Map() {
				var status int
				fmt.Sscan(code, &status)
				listed = append(listed, status)
			}
			for status := range c.seen[op.OperationID] {
				assert.True(t, slices.Contains(listed, status), "%s %s answered %d, which the document does not list", method, path, status)
			}
		}
	}
	assert.True(t, c.seen["NotFound"][404])
	assert.True(t, c.seen["MethodNotAllowed"][405])
}

func TestOpenAPIServed(t *testing.T) {
	srv := testserver.Start(t)
	resp, err := http.Get(srv.URL + "/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, httpapi.OpenAPI, b)
	doc, err := openapi3.NewLoader().LoadFromData(b)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
}
