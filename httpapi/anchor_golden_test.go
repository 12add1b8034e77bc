package httpapi_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// goldenFile holds the answers eventd gave to Anchor-shaped requests at
// commit 34a62ef, before issue 11 added routes, fields and headers. It was
// written by running this test there with -update-golden; it is never
// rewritten since, so that Anchor's answers cannot move unnoticed.
const goldenFile = "testdata/anchor_golden.json"

var updateGolden = flag.Bool("update-golden", false, "write "+goldenFile+" from this handler (only at the commit it records)")

// goldenStep is one request of a golden scenario and the answer to it.
type goldenStep struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Headers map[string]string   `json:"headers,omitempty"` // besides the API key
	Body    string              `json:"body"`
	Pending bool                `json:"pending,omitempty"` // sent first, in the background; answered after the other steps
	NoKey   bool                `json:"noKey,omitempty"`   // sent without the API key
	Key     string              `json:"key,omitempty"`     // sent with this key instead of the scenario's
	Status  int                 `json:"status"`
	Answer  map[string][]string `json:"answerHeaders"` // every header but Date
	Reply   string              `json:"answerBody"`
}

type goldenScenario struct {
	Name  string       `json:"name"`
	Steps []goldenStep `json:"steps"`
}

// sdkHeaders are the headers Anchor's TypeScript SDK sends with a JSON body
// (besides its key and its own telemetry headers, which eventd ignores).
var sdkHeaders = map[string]string{"Content-Type": "application/json", "Accept": "application/json"}

func step(method, path, body string) goldenStep {
	s := goldenStep{Method: method, Path: path, Body: body}
	if body != "" {
		s.Headers = sdkHeaders
	}
	return s
}

func withHeaders(s goldenStep, h map[string]string) goldenStep { s.Headers = h; return s }
func pending(s goldenStep) goldenStep                          { s.Pending = true; return s }
func noKey(s goldenStep) goldenStep                            { s.NoKey = true; return s }
func withKey(s goldenStep, key string) goldenStep              { s.Key = key; return s }

// goldenScenarios are Anchor-shaped requests: the two operations its SDKs
// and its spec send (signal; wait with and without timeoutMs), under both
// prefixes, with their error cases. Each scenario runs on a fresh server,
// so sequence numbers are the same in every run.
func goldenScenarios() []struct {
	name  string
	opts  []httpapi.Option
	key   string
	steps []goldenStep
	after func(t *testing.T, srv *testserver.Server) // run after the pending steps are waiting, before the others
} {
	long := strings.Repeat("n", eventcoord.MaxNameLen+1)
	type scenario = struct {
		name  string
		opts  []httpapi.Option
		key   string
		steps []goldenStep
		after func(t *testing.T, srv *testserver.Server)
	}
	return []scenario{
		{name: "signal first, then wait", key: "sdk-key", steps: []goldenStep{
			step("POST", "/v1/events/mfa_code", `{"data":{"code":"123456"}}`),
			step("POST", "/v1/events/mfa_code/wait", `{"timeoutMs":1000}`),
			step("POST", "/v1/events/mfa_code/wait", `{"timeoutMs":0}`),
			step("POST", "/v1/events/mfa_code/wait", `{"timeoutMs":10}`),
			step("POST", "/api/v1/events/build:finished", `{"data":{"big":12345678901234567890,"pi":3.14159265358979323846,"nested":{"a":[1,2.5,null,true,"é"]},"s":"\u2028<&>"}}`),
			step("POST", "/api/v1/events/build:finished/wait", ``),
			step("POST", "/v1/events/order-12345-ready", `{"data":{}}`),
			step("POST", "/v1/events/order-12345-ready", `{"data":{"second":true}}`),
			step("POST", "/v1/events/order-12345-ready/wait", `{"timeoutMs":null}`),
			step("POST", "/v1/events/workflow_completed", `{"data":{"message":"Task completed","result":"success","timestamp":"2024-01-01T12:00:00Z"}}`),
			step("POST", "/v1/events/workflow_completed/wait", `{}`),
			step("POST", "/v1/events/x", `{"data":{"n":1}}`),
			step("POST", "/v1/events/x/wait", `{"timeoutMs":10,"unknown":"ignored"}`),
			withHeaders(step("POST", "/v1/events/y", `{"data":{"n":2}}`), map[string]string{"Content-Type": "application/json; charset=utf-8"}),
			withHeaders(step("POST", "/v1/events/y/wait", ``), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}),
		}},
		{name: "names", key: "sdk-key", steps: []goldenStep{
			step("POST", "/v1/events/wait", `{"data":{"name":"wait"}}`),
			step("POST", "/v1/events/wait/wait", `{"timeoutMs":1000}`),
			step("POST", "/v1/events/x%2Fwait", `{"data":{"name":"x/wait"}}`),
			step("POST", "/v1/events/x%2Fwait/wait", `{"timeoutMs":1000}`),
			step("POST", "/v1/events/%2E%2E", `{"data":{"name":".."}}`),
			step("POST", "/v1/events/%2E%2E/wait", `{"timeoutMs":1000}`),
			step("POST", "/v1/events/sp%20ace%3F%25", `{"data":{}}`),
			step("POST", "/v1/events/sp%20ace%3F%25/wait", `{"timeoutMs":1000}`),
			step("POST", "/v1/events/%C3%A9v%C3%A9nement", `{"data":{}}`),
			step("POST", "/v1/events/%C3%A9v%C3%A9nement/wait", `{"timeoutMs":1000}`),
		}},
		{name: "wait first, then signal", key: "sdk-key", steps: []goldenStep{
			pending(step("POST", "/v1/events/mfa_code/wait", `{"timeoutMs":600000}`)),
			pending(step("POST", "/api/v1/events/mfa_code/wait", `{"timeoutMs":600000}`)),
			step("POST", "/v1/events/mfa_code", `{"data":{"code":"654321"}}`),
			step("POST", "/v1/events/mfa_code/wait", `{"timeoutMs":0}`),
		}},
		{name: "errors", key: "k1", opts: []httpapi.Option{httpapi.WithKeys([]string{"k1"}), httpapi.WithMaxBody(512)}, steps: []goldenStep{
			noKey(step("POST", "/v1/events/x", `{"data":{}}`)),
			noKey(step("POST", "/v1/events/x/wait", `{"timeoutMs":10}`)),
			withKey(step("POST", "/v1/events/x", `{"data":{}}`), "wrong"),
			withKey(step("POST", "/api/v1/events/x/wait", ``), "wrong"),
			step("POST", "/v1/events/x", `{}`),
			step("POST", "/v1/events/x", ``),
			step("POST", "/v1/events/x", `{"data":null}`),
			step("POST", "/v1/events/x", `{"data":[1]}`),
			step("POST", "/v1/events/x", `{"data":"hi"}`),
			step("POST", "/v1/events/x", `[]`),
			step("POST", "/v1/events/x", `{"data":{}} {}`),
			step("POST", "/v1/events/x", `{"data":{}`),
			step("POST", "/v1/events/x", `{"data":`+strings.Repeat(`{"a":`, 70)+`1`+strings.Repeat(`}`, 70)+`}`),
			step("POST", "/v1/events/x", `{"data":{"s":"`+strings.Repeat("x", 600)+`"}}`),
			withHeaders(step("POST", "/v1/events/x", `{"data":{}}`), map[string]string{"Content-Type": "text/plain"}),
			step("POST", "/v1/events/%FF", `{"data":{}}`),
			step("POST", "/v1/events/"+long, `{"data":{}}`),
			step("POST", "/v1/events/", `{"data":{}}`),
			step("POST", "/v1/events/x/wait", `{"timeoutMs":-1}`),
			step("POST", "/v1/events/x/wait", `{"timeoutMs":"1000"}`),
			step("POST", "/v1/events/x/wait", `{"timeoutMs":1.5}`),
			step("POST", "/v1/events/x/wait", `[]`),
			step("POST", "/v1/events/x/wait", `{"timeoutMs":1`+strings.Repeat(" ", 600)+`}`),
			step("POST", "/v1/events/%FF/wait", `{"timeoutMs":10}`),
			step("POST", "/api/v1/events/"+long+"/wait", ``),
			step("POST", "/v1/events//wait", ``),
			step("POST", "/api/v1/events/x/wait", `{"timeoutMs":10}`),
		}},
		{name: "per-key limits", key: "sdk-key", opts: []httpapi.Option{httpapi.WithMaxWaitsPerKey(1), httpapi.WithSignalRatePerKey(0.001)}, steps: []goldenStep{
			pending(step("POST", "/v1/events/e/wait", `{"timeoutMs":600000}`)),
			step("POST", "/v1/events/e/wait", `{"timeoutMs":1000}`),
			step("POST", "/v1/events/e", `{"data":{"i":1}}`),
			step("POST", "/v1/events/e", `{"data":{"i":2}}`),
		}},
		{name: "draining", key: "sdk-key", steps: []goldenStep{
			pending(step("POST", "/v1/events/e/wait", `{"timeoutMs":600000}`)),
			step("POST", "/v1/events/e/wait", `{"timeoutMs":1000}`),
			step("POST", "/v1/events/e", `{"data":{}}`),
		}, after: func(t *testing.T, srv *testserver.Server) {
			srv.Handler.Drain()
			// Drain ends the pending wait's context; the wait leaves as
			// that reaches it. A signal before then would reach it, and
			// it would answer the event (delivery wins), as it would for a
			// signal sent just before Drain.
			srv.AwaitWaiters(t, 0)
		}},
		{name: "closed", key: "sdk-key", steps: []goldenStep{
			step("POST", "/v1/events/e", `{"data":{}}`),
			step("POST", "/v1/events/e/wait", `{"timeoutMs":1000}`),
		}, after: func(_ *testing.T, srv *testserver.Server) { srv.Coord.Close() }},
	}
}

// TestAnchorAnswersDoNotMove sends Anchor-shaped requests over loopback
// HTTP and requires the very answers eventd gave them before issue 11:
// status, every header but Date, and the body, byte for byte.
func TestAnchorAnswersDoNotMove(t *testing.T) {
	var got []goldenScenario
	for _, sc := range goldenScenarios() {
		srv := testserver.Start(t, sc.opts...)
		out := goldenScenario{Name: sc.name}
		var pend []int // indexes of pending steps
		answers := make([]chan goldenStep, len(sc.steps))
		var wg sync.WaitGroup
		for i, s := range sc.steps {
			if !s.Pending {
				continue
			}
			answers[i] = make(chan goldenStep, 1)
			wg.Go(func() { answers[i] <- sendGolden(t, srv, sc.key, s) })
			pend = append(pend, i)
			srv.AwaitWaiters(t, len(pend)) // in order: each is waiting before the next is sent
		}
		if sc.after != nil {
			sc.after(t, srv)
		}
		steps := make([]goldenStep, len(sc.steps))
		for i, s := range sc.steps {
			if s.Pending {
				continue
			}
			key := cmp(s.Key, sc.key)
			if s.NoKey {
				key = ""
			}
			steps[i] = sendGolden(t, srv, key, s)
		}
		for _, i := range pend {
			steps[i] = <-answers[i]
		}
		wg.Wait()
		out.Steps = steps
		got = append(got, out)
	}

	if *updateGolden {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(goldenFile, append(b, '\n'), 0o644))
		return
	}
	raw, err := os.ReadFile(goldenFile)
	require.NoError(t, err)
	var want []goldenScenario
	require.NoError(t, json.Unmarshal(raw, &want))
	require.Len(t, got, len(want), "scenarios")
	for i := range want {
		require.Equal(t, want[i].Name, got[i].Name)
		require.Len(t, got[i].Steps, len(want[i].Steps), want[i].Name)
		for j, w := range want[i].Steps {
			g := got[i].Steps[j]
			what := want[i].Name + ": " + w.Method + " " + w.Path + " " + w.Body
			require.Equal(t, []string{w.Method, w.Path, w.Body}, []string{g.Method, g.Path, g.Body}, "the request, as recorded")
			assert.Equal(t, w.Status, g.Status, what)
			assert.Equal(t, w.Answer, g.Answer, what)
			assert.Equal(t, w.Reply, g.Reply, what)
		}
	}
}

// sendGolden sends s with key (none if empty) and records the answer. It
// may run on any goroutine: a failure is recorded as the answer, which
// then differs from the golden one.
func sendGolden(t *testing.T, srv *testserver.Server, key string, s goldenStep) goldenStep {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang fails, late
	defer cancel()
	var body io.Reader = http.NoBody
	if s.Body != "" {
		body = strings.NewReader(s.Body)
	}
	req, err := http.NewRequestWithContext(ctx, s.Method, srv.URL+s.Path, body)
	if err != nil {
		s.Reply = err.Error()
		return s
	}
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	if key != "" {
		req.Header.Set("anchor-api-key", key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		s.Reply = err.Error()
		return s
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.Reply = err.Error()
		return s
	}
	s.Status, s.Reply, s.Answer = resp.StatusCode, string(raw), map[string][]string{}
	for k, v := range resp.Header {
		if k != "Date" {
			s.Answer[k] = slices.Clone(v)
		}
	}
	return s
}
