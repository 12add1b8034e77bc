package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// answer is a response read in full.
type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// post sends a POST with apiKey and body to url and reads the answer.
func post(t testing.TB, client *http.Client, url, apiKey, body string) answer {
	t.Helper()
	a, err := tryPost(client, url, apiKey, body)
	require.NoError(t, err)
	return a
}

// tryPost is post for a goroutine of the test: it returns its failure.
func tryPost(client *http.Client, url, apiKey, body string) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("anchor-api-key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return answer{}, fmt.Errorf("body %q: %w", raw, err)
	}
	return answer{resp.StatusCode, resp.Header, out}, nil
}

// scrape returns the text of /metrics.
func scrape(t testing.TB, client *http.Client, base string) string {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(raw)
}

func TestWaitsBeyondTheKeysBoundAre429(t *testing.T) { // S10
	srv := testserver.Start(t, httpapi.WithMaxWaitsPerKey(2))
	waitURL, signalURL := srv.URL+"/v1/events/x/wait", srv.URL+"/v1/events/x"

	var g errgroup.Group
	t.Cleanup(func() { srv.Handler.Drain(); _ = g.Wait() }) // joined on every path
	got := make(chan answer, 4)
	for _, key := range []string{"key-a", "key-a", "key-b", "key-b"} {
		g.Go(func() error {
			a, err := tryPost(srv.Client(), waitURL, key, `{"timeoutMs": 60000}`)
			got <- a
			return err
		})
	}
	srv.AwaitWaiters(t, 4) // a's two waits are in place, and b's two

	refused := post(t, srv.Client(), waitURL, "key-a", `{"timeoutMs": 60000}`)
	assert.Equal(t, http.StatusTooManyRequests, refused.status)
	assert.Equal(t, "1", refused.header.Get("Retry-After"))
	assert.Equal(t, "application/json", refused.header.Get("Content-Type"))
	assert.Equal(t, errBody(429, "Too many waits in progress for this API key (the limit is 2): retry after 1 s"), refused.body)

	// a is at its bound, b too: neither refuses the other's signal, and
	// each signal reaches its own key's waiters.
	for _, key := range []string{"key-a", "key-b"} {
		r := post(t, srv.Client(), signalURL, key, `{"data": {"k": "`+key+`"}}`)
		require.Equal(t, http.StatusOK, r.status, key)
		assert.Equal(t, 2.0, r.body["data"].(map[string]any)["woken"], key)
	}
	require.NoError(t, g.Wait())
	close(got)
	for a := range got {
		assert.Equal(t, http.StatusOK, a.status)
	}

	// The ended waits gave their places back.
	srv.Handler.Drain() // a wait admitted now is answered 503 at once, not blocked
	assert.Equal(t, http.StatusServiceUnavailable, post(t, srv.Client(), waitURL, "key-a", `{}`).status)
	metrics := scrape(t, srv.Client(), srv.URL)
	assert.Contains(t, metrics, `eventd_refused_total{reason="waits_per_key"} 1`)
	assert.Contains(t, metrics, `eventd_refused_total{reason="signal_rate_per_key"} 0`)
	assert.NotContains(t, metrics, "key-a")
}

func TestOneKeysWaitsNeverRefuseAnother(t *testing.T) { // S10
	srv := testserver.Start(t, httpapi.WithMaxWaitsPerKey(1))
	var g errgroup.Group
	t.Cleanup(func() { srv.Handler.Drain(); _ = g.Wait() })
	g.Go(func() error {
		_, err := tryPost(srv.Client(), srv.URL+"/v1/events/x/wait", "key-a", `{"timeoutMs": 60000}`)
		return err
	})
	srv.AwaitWaiters(t, 1)
	assert.Equal(t, http.StatusTooManyRequests, post(t, srv.Client(), srv.URL+"/v1/events/x/wait", "key-a", `{"timeoutMs": 0}`).status)
	// b's wait is admitted: it times out, it is not refused.
	assert.Equal(t, http.StatusRequestTimeout, post(t, srv.Client(), srv.URL+"/v1/events/x/wait", "key-b", `{"timeoutMs": 1}`).status)
}

func TestSignalsBeyondTheKeysRateAre429(t *testing.T) { // S10
	// One signal per 1,000 s: the second comes long before the next is
	// allowed however slow the machine is.
	srv := testserver.Start(t, httpapi.WithSignalRatePerKey(0.001))
	url := srv.URL + "/v1/events/x"
	require.Equal(t, http.StatusOK, post(t, srv.Client(), url, "key-a", `{"data": {}}`).status)

	refused := post(t, srv.Client(), url, "key-a", `{"data": {}}`)
	assert.Equal(t, http.StatusTooManyRequests, refused.status)
	secs, err := strconv.Atoi(refused.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q is whole seconds", refused.header.Get("Retry-After"))
	assert.Greater(t, secs, 1, "the next signal is allowed in about 1,000 s")
	assert.LessOrEqual(t, secs, 1000)
	assert.Equal(t, errBody(429, fmt.Sprintf("Too many signals for this API key (the limit is 0.001 per second): retry after %d s", secs)), refused.body)

	assert.Equal(t, http.StatusOK, post(t, srv.Client(), url, "key-b", `{"data": {}}`).status, "a's rate never slows b")
	assert.Equal(t, http.StatusTooManyRequests, post(t, srv.Client(), url, "key-a", `{"data": {}}`).status, "a refused signal does not reset a's rate")
	assert.Equal(t, uint64(2), srv.Coord.Stats().Signals, "a's refused signals were never accepted")

	// Waits are not rate limited.
	assert.Equal(t, http.StatusOK, post(t, srv.Client(), url+"/wait", "key-a", `{"timeoutMs": 1000}`).status)
	metrics := scrape(t, srv.Client(), srv.URL)
	assert.Contains(t, metrics, `eventd_refused_total{reason="signal_rate_per_key"} 2`)
	assert.NotContains(t, metrics, "key-a")
}

func TestEvictionsAreCountedInMetricsByReason(t *testing.T) { // S10
	coord := eventcoord.New(eventcoord.WithMaxRetainedPerScope(1))
	t.Cleanup(func() { coord.Close() })
	srv := httptest.NewServer(httpapi.New(func(scope string) eventcoord.Events { return coord.Scope(scope).Events() },
		httpapi.WithStats(coord.Stats)))
	t.Cleanup(srv.Close)
	for _, name := range []string{"a", "b", "c"} {
		require.Equal(t, http.StatusOK, post(t, srv.Client(), srv.URL+"/v1/events/"+name, "key-a", `{"data": {"v": 1}}`).status)
	}
	require.Equal(t, http.StatusOK, post(t, srv.Client(), srv.URL+"/v1/events/a", "key-b", `{"data": {}}`).status)
	metrics := scrape(t, srv.Client(), srv.URL)
	assert.Contains(t, metrics, `eventcoord_evictions_total{reason="scope_count"} 2`)
	assert.Contains(t, metrics, `eventcoord_evictions_total{reason="count"} 0`)
	assert.Contains(t, metrics, `eventcoord_signal_outcomes_total{outcome="evicted"} 2`)
	assert.Contains(t, metrics, `eventd_retained_events 2`)
	assert.Contains(t, metrics, fmt.Sprintf("eventd_retained_bytes %d", len(`{"v":1}`)+len(`{}`)))
	assert.NotContains(t, metrics, "key-a")
	// b's one event outlived a's evictions.
	assert.Equal(t, http.StatusOK, post(t, srv.Client(), srv.URL+"/v1/events/a/wait", "key-b", `{"timeoutMs": 1000}`).status)
}
