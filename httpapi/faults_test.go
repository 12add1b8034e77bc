package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// TestThousandsOfDisconnectsLeakNothing has 2,000 clients wait and then
// vanish: every waiter is gone, the goroutine count comes back, and
// signals sent afterwards are retained, not lost. It waits for states, never
// for a time, so a slow or busy machine only makes it slower.
func TestThousandsOfDisconnectsLeakNothing(t *testing.T) {
	srv := testserver.Start(t)
	const clients, names = 2000, 20
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	hc := &http.Client{Transport: tr}
	baseline := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	answered := make(chan int, clients) // statuses of waits answered before their client left
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/v1/events/n%d/wait", srv.URL, i%names), strings.NewReader(`{"timeoutMs":600000}`))
			req.Header.Set("anchor-api-key", key)
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
				answered <- resp.StatusCode
			}
		})
	}
	// Whatever happens below, the clients leave and are joined before the
	// server stops (cleanups run last in, first out).
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
	})
	srv.AwaitWaiters(t, clients)
	cancel()
	wg.Wait()
	close(answered)
	for status := range answered {
		t.Errorf("a wait was answered %d before its client left", status)
	}
	srv.AwaitWaiters(t, 0)
	tr.CloseIdleConnections()
	testserver.Await(t, "the goroutines are back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline+10 })
	s := srv.Coord.Stats()
	assert.Zero(t, s.Names, "no state is left for the names")

	for i := range names {
		status, out := call(t, srv, "POST", fmt.Sprintf("/v1/events/n%d", i), key, `{"data":{}}`)
		require.Equal(t, 200, status)
		assert.Equal(t, true, out["data"].(map[string]any)["retained"], "nobody is left waiting")
	}
	assert.Contains(t, metrics(t, srv), "eventd_waiters 0")
	assert.Contains(t, metrics(t, srv), fmt.Sprintf(`eventd_waits_total{outcome="cancelled"} %d`, clients))
}

func metrics(t *testing.T, srv *testserver.Server) string {
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

// TestGarbageGetsA4xx sends malformed requests: each is refused with a 4xx
// and a JSON error where the handler sees it, never a 5xx.
func TestGarbageGetsA4xx(t *testing.T) {
	// A short ceiling: the huge timeout is clamped to it and ends in a 408.
	srv := testserver.Start(t, httpapi.WithMaxWait(50*time.Millisecond))
	garbage := map[string]struct{ path, contentType, body string }{
		"invalid JSON":          {"/v1/events/x", "application/json", `{"data":{"a":}`},
		"truncated":             {"/v1/events/x", "application/json", `{"data":{"a":"b"`},
		"huge timeout":          {"/v1/events/nobody/wait", "application/json", `{"timeoutMs":1e99999}`},
		"nested 10,000 deep":    {"/v1/events/x", "application/json", `{"data":` + strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000) + `}`},
		"xml":                   {"/v1/events/x", "application/xml", `<data/>`},
		"bad content type":      {"/v1/events/x", "no/such;;type", `{"data":{}}`},
		"10,000-byte name":      {"/v1/events/" + strings.Repeat("n", 10000), "application/json", `{"data":{}}`},
		"bad percent-encoding":  {"/v1/events/%zz", "application/json", `{"data":{}}`},
		"encoded slash in wait": {"/v1/events/a%2F/wait/x", "application/json", `{}`},
		"NUL bytes":             {"/v1/events/x", "application/json", "\x00\x00\x00"},
		"invalid UTF-8 in data": {"/v1/events/x", "application/json", "{\"data\":{\"a\":\"\xff\"}}"},
	}
	for name, g := range garbage {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest("POST", srv.URL+g.path, strings.NewReader(g.body))
			if err != nil { // a URL Go itself refuses to send is refused earlier still
				return
			}
			req.Header.Set("anchor-api-key", key)
			req.Header.Set("Content-Type", g.contentType)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			if resp.StatusCode == 200 { // valid after all (Go's decoder replaces invalid UTF-8)
				return
			}
			assert.GreaterOrEqual(t, resp.StatusCode, 400)
			assert.Less(t, resp.StatusCode, 500)
		})
	}
	assert.Contains(t, metrics(t, srv), `eventd_waits_total{outcome="error"} 0`)
}
