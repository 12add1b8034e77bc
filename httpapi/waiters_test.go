package httpapi_test

import (
	"context"
	"fmt"
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

// registerWait registers a wait with body at srv and returns its URL path.
func registerWait(t *testing.T, srv *testserver.Server, body string) string {
	t.Helper()
	a := ask(t, srv, "POST", "/v1/waiters", body, nil)
	require.Equal(t, 200, a.status, "%v", a.body)
	id, _ := a.data(t)["id"].(string)
	require.Regexp(t, "^[0-9a-f]{32}$", id)
	return "/v1/waiters/" + id
}

// background sends a request on a goroutine the test joins on every path.
func background(t *testing.T, srv *testserver.Server, method, path, apiKey, body string) <-chan answer {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan answer, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		a, err := request(ctx, srv, method, path, apiKey, body, nil)
		if err != nil {
			a.status = -1
		}
		ch <- a
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ch
}

// awaitBusy returns once the registration at w has as many requests in
// progress as it takes. It does not ask over HTTP: a request of its own
// would take a place, and one of the requests it waits for, coming just
// then, would be refused.
func awaitBusy(t *testing.T, srv *testserver.Server, w string) {
	t.Helper()
	testserver.Await(t, "four requests in progress on "+w, func() bool {
		return httpapi.RequestsOn(srv.Handler, w) == 4
	})
	assert.Equal(t, 429, ask(t, srv, "GET", w, "", nil).status, "a fifth is refused")
}

// registrations returns how many registrations srv holds, from /metrics.
func registrations(t *testing.T, srv *testserver.Server) string {
	m := regexp.MustCompile(`(?m)^eventd_registrations (\S+)$`).FindStringSubmatch(metrics(t, srv))
	require.NotNil(t, m, "eventd_registrations in /metrics")
	return m[1]
}

// Register, then act, then wait: a signal sent right after the answer
// reaches the registration, with no polling for waiters in between.
func TestRegisterThenSignalThenWait(t *testing.T) {
	srv := testserver.Start(t)
	w := registerWait(t, srv, `{"name": "approved", "anyOf": ["rejected"]}`)
	a := ask(t, srv, "GET", w, "", nil)
	assert.Equal(t, false, a.data(t)["ready"])
	before := time.Now()
	a = ask(t, srv, "POST", "/v1/events/rejected", `{"data": {"by": "bob"}}`, nil)
	assert.Equal(t, 1.0, a.data(t)["woken"], "the registration was in place")

	a = ask(t, srv, "GET", w+"?timeoutMs=60000", "", nil)
	assert.Equal(t, true, a.data(t)["ready"])
	a = ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 1000}`, nil)
	require.Equal(t, 200, a.status, "%v", a.body)
	assert.Equal(t, map[string]any{"data": map[string]any{"by": "bob"}}, a.body)
	assert.Equal(t, "rejected", a.header.Get(httpapi.EventNameHeader))
	assert.Equal(t, "1", a.header.Get(httpapi.SeqHeader))
	at, err := time.Parse(time.RFC3339Nano, a.header.Get(httpapi.SignaledAtHeader))
	require.NoError(t, err)
	assert.WithinRange(t, at, before, time.Now())

	a = ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 0}`, nil)
	assert.Equal(t, errBody(404, "No such waiter: it was not registered with this API key, or it was taken, cancelled or expired"), a.body)
	assert.Equal(t, httpapi.KindNoWaiter, a.header.Get(httpapi.ErrorHeader))
	assert.Equal(t, "0", registrations(t, srv))
	assert.Contains(t, metrics(t, srv), `eventd_registrations_ended_total{outcome="taken"} 1`)
	assert.Zero(t, srv.Coord.Stats().Names, "nothing left in the Coordinator")
}

func TestRegisterTakesTheRetainedEventUnlessFresh(t *testing.T) {
	srv := testserver.Start(t)
	ask(t, srv, "POST", "/v1/events/code", `{"data": {"code": "stale"}}`, nil)
	a := ask(t, srv, "POST", "/v1/waiters", `{"name": "code", "fresh": true}`, nil)
	assert.Equal(t, false, a.data(t)["ready"], "fresh: the retained event is left alone")
	a = ask(t, srv, "POST", "/v1/waiters", `{"name": "code", "leaseMs": 1000}`, nil)
	d := a.data(t)
	assert.Equal(t, map[string]any{"id": d["id"], "ready": true, "leaseMs": 1000.0, "maxWaitMs": 600000.0}, d)
}

// A timeout leaves the registration for another wait, unless the wait
// asked cancelOnTimeout; a signal in between is not missed.
func TestTimeoutKeepsTheRegistrationUnlessAsked(t *testing.T) {
	srv := testserver.Start(t)
	w := registerWait(t, srv, `{"name": "x"}`)
	a := ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 10}`, nil)
	assert.Equal(t, errBody(408, "Event was not signaled within the specified timeout"), a.body)
	ask(t, srv, "POST", "/v1/events/x", `{"data": {"n": 1}}`, nil) // between two waits
	a = ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 10, "cancelOnTimeout": true}`, nil)
	assert.Equal(t, 200, a.status, "the event that came meanwhile")

	w = registerWait(t, srv, `{"name": "x"}`)
	a = ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 10, "cancelOnTimeout": true}`, nil)
	assert.Equal(t, 408, a.status)
	assert.Equal(t, 404, ask(t, srv, "GET", w, "", nil).status, "it left")
	a = ask(t, srv, "POST", "/v1/events/x", `{"data": {}}`, nil)
	assert.Equal(t, true, a.data(t)["retained"])
	assert.Contains(t, metrics(t, srv), `eventd_registrations_ended_total{outcome="left"} 1`)
}

// A wait that leaves with cancelOnTimeout ends the requests in progress on
// the registration first: a GET woken by the leaving answers 404, never
// ready (found by an outside tester: 14 in 200 rounds answered ready).
func TestLeavingOnTimeoutIsNeverReady(t *testing.T) {
	srv := testserver.Start(t)
	for i := range 200 {
		w := registerWait(t, srv, fmt.Sprintf(`{"name": "leave-%d"}`, i))
		peek := background(t, srv, "GET", w+"?timeoutMs=600000", key, "")
		testserver.Await(t, "the GET in progress", func() bool { return httpapi.RequestsOn(srv.Handler, w) == 1 })
		a := ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 1, "cancelOnTimeout": true}`, nil)
		require.Equal(t, 408, a.status)
		require.Equal(t, 404, (<-peek).status, "round %d: the GET on a registration that left", i)
	}
	assert.Contains(t, metrics(t, srv), `eventd_registrations_ended_total{outcome="left"} 200`)
	assert.Zero(t, srv.Coord.Stats().Waiters)
}

// A wait whose timeout the server clamped keeps the registration even with
// cancelOnTimeout: the client asked for more time than it got.
func TestClampedWaitKeepsTheRegistration(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithMaxWait(20*time.Millisecond))
	w := registerWait(t, srv, `{"name": "x"}`)
	a := ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 600000, "cancelOnTimeout": true}`, nil)
	assert.Equal(t, 408, a.status)
	assert.Equal(t, 200, ask(t, srv, "GET", w, "", nil).status, "still registered")
}

// Cancel gives back an event the registration holds (S3), and ends a wait
// in progress on it.
func TestCancelGivesBackAndEndsWaits(t *testing.T) {
	srv := testserver.Start(t)
	w := registerWait(t, srv, `{"name": "x"}`)
	ask(t, srv, "POST", "/v1/events/x", `{"data": {"n": 1}}`, nil)
	a := ask(t, srv, "DELETE", w, "", nil)
	assert.Equal(t, map[string]any{"status": "cancelled"}, a.data(t))
	a = ask(t, srv, "POST", "/v1/events/x/wait", `{"timeoutMs": 0}`, nil)
	assert.Equal(t, map[string]any{"n": 1.0}, a.data(t), "given back: retained again")

	w = registerWait(t, srv, `{"name": "y"}`)
	pending := []<-chan answer{background(t, srv, "POST", w+"/wait", key, `{"timeoutMs": 600000}`)}
	for range 3 {
		pending = append(pending, background(t, srv, "GET", w+"?timeoutMs=600000", key, ""))
	}
	awaitBusy(t, srv, w)
	assert.Equal(t, 200, ask(t, srv, "DELETE", w, "", nil).status)
	for _, p := range pending {
		assert.Equal(t, 404, (<-p).status, "a request in progress on it")
	}
	assert.Equal(t, 404, ask(t, srv, "DELETE", w, "", nil).status, "once")
	assert.Zero(t, srv.Coord.Stats().Waiters)
}

// Ids are unguessable, and another key's id is unknown: nothing it does
// touches the registration.
func TestRegistrationsAreScopedToTheirKey(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithKeys([]string{key, "mallory"}))
	w := registerWait(t, srv, `{"name": "x"}`)
	ask(t, srv, "POST", "/v1/events/x", `{"data": {}}`, nil)
	for _, c := range []struct{ method, path, body string }{
		{"GET", w, ""}, {"GET", w + "?timeoutMs=10", ""}, {"POST", w + "/wait", `{"timeoutMs": 0}`}, {"DELETE", w, ""},
	} {
		status, out := call(t, srv, c.method, c.path, "mallory", c.body)
		assert.Equal(t, 404, status, "%s %s: %v", c.method, c.path, out)
	}
	assert.Equal(t, 200, ask(t, srv, "POST", w+"/wait", "", nil).status, "the owner's registration is intact")

	ids := map[string]bool{}
	for range 50 {
		w := registerWait(t, srv, `{"name": "y"}`)
		assert.False(t, ids[w], "an id twice")
		ids[w] = true
		ask(t, srv, "DELETE", w, "", nil)
	}
}

func TestHostileWaiterIDsChangeNothing(t *testing.T) {
	srv := testserver.Start(t)
	w := registerWait(t, srv, `{"name": "x"}`)
	id := strings.TrimPrefix(w, "/v1/waiters/")
	before := srv.Coord.Stats()
	for _, bad := range []string{strings.ToUpper(id), id + "0", id[:31], strings.Repeat("a", 10_000), "%00", "%2E%2E", "x%2Fwait", "%FF"} {
		for _, c := range []struct{ method, path string }{{"GET", "/v1/waiters/" + bad}, {"POST", "/v1/waiters/" + bad + "/wait"}, {"DELETE", "/v1/waiters/" + bad}} {
			a := ask(t, srv, c.method, c.path, "", nil)
			assert.Equal(t, 404, a.status, "%s %.40s: %v", c.method, c.path, a.body)
		}
	}
	assert.Equal(t, before, srv.Coord.Stats())
	assert.Equal(t, "1", registrations(t, srv))
}

func TestRegistrationBodiesAreChecked(t *testing.T) {
	srv := testserver.Start(t)
	for body, want := range map[string]string{
		`{"name": "x", "timeoutMs": 5}`:    `Unknown field "timeoutMs" in the request body: the fields are name, anyOf, fresh, leaseMs`,
		`{"names": ["x"]}`:                 `Unknown field "names" in the request body: the fields are name, anyOf, fresh, leaseMs`,
		`{"anyOf": ["x"]}`:                 "name is required: the event name to wait for",
		``:                                 "name is required: the event name to wait for",
		`{"name": ""}`:                     "Invalid event name: empty",
		`{"name": 5}`:                      "Request body must be a JSON object",
		`{"name": "x", "leaseMs": -5}`:     "leaseMs must be a positive integer number of milliseconds",
		`{"name": "x", "leaseMs": 0}`:      "leaseMs must be a positive integer number of milliseconds",
		`{"name": "x", "anyOf": ["x", 1]}`: "anyOf must be an array of event names (strings)",
		`[]`:                               "Request body must be a JSON object, not an array",
		`{"name": "x", "name": "y"}`:       `Field "name" appears twice in the request body`,
		`{"Name": "x"}`:                    `Unknown field "Name" in the request body: the fields are name, anyOf, fresh, leaseMs`,
		`{"name": "x", "NAME": "y"}`:       `Unknown field "NAME" in the request body: the fields are name, anyOf, fresh, leaseMs`,
	} {
		a := ask(t, srv, "POST", "/v1/waiters", body, nil)
		assert.Equal(t, 400, a.status, body)
		assert.Contains(t, a.body["error"].(map[string]any)["message"], want, body)
	}
	assert.Zero(t, srv.Coord.Stats().Waiters)
	assert.Equal(t, "0", registrations(t, srv))
	w := registerWait(t, srv, `{"name": "x"}`)
	for body, want := range map[string]string{
		`{"timeout": 5}`:                   `Unknown field "timeout" in the request body: the fields are timeoutMs, cancelOnTimeout`,
		`{"cancelOnTimeout": "yes"}`:       "cancelOnTimeout must be true or false",
		`{"timeoutMs": 1.5}`:               "timeoutMs must be a non-negative integer number of milliseconds",
		`{"timeoutMs": 1} {}`:              "Request body must hold one JSON object and nothing after it",
		`{"timeoutMs": 1, "anyOf": 1}`:     `Unknown field "anyOf" in the request body: the fields are timeoutMs, cancelOnTimeout`,
		`{"timeoutMs": 1, "timeoutMs": 2}`: `Field "timeoutMs" appears twice in the request body`,
		`{"TimeoutMs": 1}`:                 `Unknown field "TimeoutMs" in the request body: the fields are timeoutMs, cancelOnTimeout`,
	} {
		a := ask(t, srv, "POST", w+"/wait", body, nil)
		assert.Equal(t, errBody(400, want), a.body, body)
	}
	assert.Equal(t, 200, ask(t, srv, "GET", w, "", nil).status, "bad requests leave it alone")
}

// A registration nobody waits on nor cancels expires a lease after its
// last request, giving back its event; a request in progress holds it.
// (Leases stay well above a round trip on a busy machine.)
func TestLeaseExpiresAndGivesBack(t *testing.T) {
	srv := testserver.Start(t)
	w := registerWait(t, srv, `{"name": "x", "leaseMs": 500}`)
	a := ask(t, srv, "GET", w+"?timeoutMs=1500", "", nil) // three leases
	assert.Equal(t, false, a.data(t)["ready"], "held while the request was in progress (else 404)")
	a = ask(t, srv, "POST", "/v1/events/x", `{"data": {"n": 1}}`, nil)
	require.Equal(t, 1.0, a.data(t)["woken"], "the registration took the event")
	testserver.Await(t, "the registration expires", func() bool { return registrations(t, srv) == "0" })
	assert.Equal(t, 404, ask(t, srv, "GET", w, "", nil).status)
	a = ask(t, srv, "POST", "/v1/events/x/wait", `{"timeoutMs": 0}`, nil)
	assert.Equal(t, map[string]any{"n": 1.0}, a.data(t), "its event, given back")
	assert.Contains(t, metrics(t, srv), `eventd_registrations_ended_total{outcome="expired"} 1`)
}

// Drain cancels every registration, giving back their events.
func TestDrainCancelsRegistrations(t *testing.T) {
	srv := testserver.Start(t)
	w := registerWait(t, srv, `{"name": "x"}`)
	ask(t, srv, "POST", "/v1/events/x", `{"data": {}}`, nil)
	srv.Handler.Drain()
	assert.Equal(t, errBody(503, "Server is shutting down"), ask(t, srv, "POST", w+"/wait", "", nil).body)
	assert.Equal(t, 1, srv.Coord.Stats().Retained, "given back")
	assert.Equal(t, "0", registrations(t, srv))
	assert.Contains(t, metrics(t, srv), `eventd_registrations_ended_total{outcome="shutdown"} 1`)
}

// A registration counts as a wait of its key until it ends; other keys
// are not touched.
func TestRegistrationsCountAsWaits(t *testing.T) {
	srv := testserver.Start(t, httpapi.WithMaxWaitsPerKey(2))
	w1 := registerWait(t, srv, `{"name": "a"}`)
	registerWait(t, srv, `{"name": "b"}`)
	a := ask(t, srv, "POST", "/v1/waiters", `{"name": "c"}`, nil)
	assert.Equal(t, 429, a.status)
	assert.Equal(t, "1", a.header.Get("Retry-After"))
	assert.Equal(t, 429, ask(t, srv, "POST", "/v1/events/c/wait", `{"timeoutMs": 0}`, nil).status)
	status, _ := call(t, srv, "POST", "/v1/waiters", "another-key", `{"name": "c"}`)
	assert.Equal(t, 200, status, "another key")
	assert.Equal(t, 200, ask(t, srv, "GET", w1+"?timeoutMs=10", "", nil).status, "a request on a registration takes no more")
	ask(t, srv, "DELETE", w1, "", nil)
	registerWait(t, srv, `{"name": "c"}`)
}

// Metrics name routes by pattern: no id, name or key becomes a label.
func TestWaiterRoutesAreLabelledByPattern(t *testing.T) {
	srv := testserver.Start(t)
	for i := range 20 {
		w := registerWait(t, srv, `{"name": "secret-name"}`)
		ask(t, srv, "GET", w, "", nil)
		ask(t, srv, "POST", w+"/wait", `{"timeoutMs": 0}`, nil)
		ask(t, srv, "DELETE", w, "", nil)
		ask(t, srv, "GET", "/api/v1/waiters/unknown"+strings.Repeat("x", i), "", nil)
	}
	m := metrics(t, srv)
	assert.NotContains(t, m, "secret-name")
	assert.NotContains(t, m, "unknownx")
	for _, want := range []string{
		`code="200",method="POST",route="/v1/waiters"} 20`,
		`code="200",method="GET",route="/v1/waiters/{id}"} 20`,
		`code="408",method="POST",route="/v1/waiters/{id}/wait"} 20`,
		`code="200",method="DELETE",route="/v1/waiters/{id}"} 20`,
		`code="404",method="GET",route="/api/v1/waiters/{id}"} 20`,
	} {
		assert.Contains(t, m, "eventd_http_request_duration_seconds_count{"+want)
	}
	for _, id := range regexp.MustCompile(`[0-9a-f]{32}`).FindAllString(m, -1) {
		t.Errorf("an id in /metrics: %s", id)
	}
}

// TestNamesInBodiesMustBeValidUTF8: encoding/json turns an invalid byte or
// a lone surrogate escape into U+FFFD without a word, so a registration or
// an anyOf on such a name listened on "\ufffd" (found by an outside
// tester); in a path the same name is refused. A valid pair and a U+FFFD
// that was asked for are fine.
func TestNamesInBodiesMustBeValidUTF8(t *testing.T) {
	srv := testserver.Start(t)
	for _, body := range []string{
		"{\"name\": \"\xff\"}",
		`{"name": "\ud800"}`,
		`{"name": "\udc00\ud800"}`,
		`{"name": "x", "anyOf": ["\ud83d"]}`,
		"{\"name\": \"x\", \"anyOf\": [\"ok\", \"\xed\xa0\x80\"]}",
	} {
		a := ask(t, srv, "POST", "/v1/waiters", body, nil)
		assert.Equal(t, 400, a.status, body)
		assert.Contains(t, a.body["error"].(map[string]any)["message"], "not valid UTF-8", body)
	}
	a := ask(t, srv, "POST", "/v1/events/x/wait", `{"timeoutMs": 0, "anyOf": ["\udfff"]}`, nil)
	assert.Equal(t, 400, a.status, "anyOf on Anchor's wait route")
	assert.Zero(t, srv.Coord.Stats().Waiters)
	assert.Equal(t, "0", registrations(t, srv))
	for _, body := range []string{`{"name": "\ud83d\ude00"}`, `{"name": "\ufffd", "anyOf": ["a\\ud800"]}`} {
		assert.Equal(t, 200, ask(t, srv, "POST", "/v1/waiters", body, nil).status, body)
	}
}
