package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

func TestBoundDefaults(t *testing.T) {
	cfg, err := parseConfig(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, bounds{
		maxRetained:            10_000,
		maxRetainedPerKey:      1_000,
		maxRetainedBytes:       64 << 20,
		maxRetainedBytesPerKey: 16 << 20,
		maxWaitsPerKey:         10_000,
		signalRatePerKey:       0,
	}, cfg.bounds)
}

func TestBoundFlagsAndEnvironment(t *testing.T) {
	cfg, err := parseConfig(
		[]string{"-max-retained", "50", "-max-retained-bytes-per-key", "4096", "-signal-rate-per-key", "2.5"},
		env(map[string]string{
			"EVENTD_MAX_RETAINED":               "60", // the flag wins
			"EVENTD_MAX_RETAINED_PER_KEY":       "5",
			"EVENTD_MAX_RETAINED_BYTES":         "1048576",
			"EVENTD_MAX_RETAINED_BYTES_PER_KEY": "1", // the flag wins
			"EVENTD_MAX_WAITS_PER_KEY":          "0",
			"EVENTD_SIGNAL_RATE_PER_KEY":        "9",
		}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, bounds{
		maxRetained:            50,
		maxRetainedPerKey:      5,
		maxRetainedBytes:       1 << 20,
		maxRetainedBytesPerKey: 4096,
		maxWaitsPerKey:         0,
		signalRatePerKey:       2.5,
	}, cfg.bounds)
}

func TestBadBoundsAreAnError(t *testing.T) {
	for _, args := range [][]string{
		{"-max-retained", "0"}, {"-max-retained-per-key", "-1"}, {"-max-retained-bytes", "0"},
		{"-max-retained-bytes-per-key", "0"}, {"-max-waits-per-key", "-1"}, {"-signal-rate-per-key", "-1"},
		{"-signal-rate-per-key", "NaN"}, {"-signal-rate-per-key", "+Inf"}, {"-max-retained", "many"},
	} {
		_, err := parseConfig(args, env(nil), io.Discard)
		assert.ErrorContains(t, err, strings.TrimPrefix(args[0], "-"), "%q", args)
	}
	_, err := parseConfig(nil, env(map[string]string{"EVENTD_MAX_RETAINED_BYTES": "64MiB"}), io.Discard)
	assert.ErrorContains(t, err, "EVENTD_MAX_RETAINED_BYTES")
}

func TestUsageListsTheBounds(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, env(nil), &out)
	require.Error(t, err)
	for _, name := range []string{"max-retained (EVENTD_MAX_RETAINED)", "max-retained-per-key", "max-retained-bytes (", "max-retained-bytes-per-key",
		"max-waits-per-key (EVENTD_MAX_WAITS_PER_KEY)", "signal-rate-per-key (EVENTD_SIGNAL_RATE_PER_KEY)"} {
		assert.Contains(t, out.String(), "-"+name)
	}
}

// postTo sends a POST with key and body and returns the status, the
// Retry-After header and the body.
func postTo(client *http.Client, url, key, body string) (int, string, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("anchor-api-key", key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(raw), err
}

// metric returns the value of the series line of /metrics, or -1.
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err)
			return f
		}
	}
	return -1
}

// TestOneKeysFloodNeverEvictsAnothers is the case against the
// binary with its default bounds: key b retains one event, key a signals
// 12,000 distinct names, and b's wait still gets b's event.
func TestOneKeysFloodNeverEvictsAnothers(t *testing.T) { // S10
	base, _ := startEventd(t, "-api-keys", "key-a,key-b")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	t.Cleanup(client.CloseIdleConnections)
	status, _, body, err := postTo(client, base+"/v1/events/mine", "key-b", `{"data": {"v": "b's"}}`)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, body)

	const flood = 12_000
	var g errgroup.Group
	g.SetLimit(8)
	for i := range flood {
		g.Go(func() error {
			status, _, body, err := postTo(client, fmt.Sprintf("%s/v1/events/n%d", base, i), "key-a", `{"data": {}}`)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("signal n%d: %d %s", i, status, body)
			}
			return err
		})
	}
	require.NoError(t, g.Wait())

	status, _, body, err = postTo(client, base+"/v1/events/mine/wait", "key-b", `{"timeoutMs": 1000}`)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"data": {"v": "b's"}}`, body)
	assert.Equal(t, float64(flood-defaultMaxRetainedPerKey), metric(t, base, `eventcoord_evictions_total{reason="scope_count"}`))
	assert.Equal(t, float64(defaultMaxRetainedPerKey), metric(t, base, "eventd_retained_events"))
}

// TestLimitsPerKeyOverHTTP starts the binary with tight limits: each key's
// excess is answered 429 with Retry-After, and the other key is served.
func TestLimitsPerKeyOverHTTP(t *testing.T) { // S10
	base, cmd := startEventd(t, "-api-keys", "key-a,key-b", "-max-waits-per-key", "1", "-signal-rate-per-key", "0.001")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	var g errgroup.Group
	pending := make(chan int, 1)
	g.Go(func() error {
		status, _, _, err := postTo(client, base+"/v1/events/never/wait", "key-a", `{"timeoutMs": 600000}`)
		pending <- status
		return err
	})
	t.Cleanup(func() { // on every path: stop eventd, which answers the wait
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		_ = g.Wait()
	})
	for deadline := time.Now().Add(time.Minute); waiters(t, base) != 1; time.Sleep(time.Millisecond) { // polls a condition
		require.True(t, time.Now().Before(deadline), "a's wait never registered")
	}

	status, retry, body, err := postTo(client, base+"/v1/events/x/wait", "key-a", `{"timeoutMs": 1}`)
	require.NoError(t, err)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "1", retry)
	assert.JSONEq(t, `{"error": {"code": 429, "message": "Too many waits in progress for this API key (the limit is 1): retry after 1 s"}}`, body)
	status, _, _, err = postTo(client, base+"/v1/events/x/wait", "key-b", `{"timeoutMs": 1}`)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestTimeout, status, "b's wait is admitted")

	for _, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		status, retry, _, err = postTo(client, base+"/v1/events/x", "key-a", `{"data": {}}`)
		require.NoError(t, err)
		assert.Equal(t, want, status)
	}
	assert.NotEmpty(t, retry)
	status, _, _, err = postTo(client, base+"/v1/events/x", "key-b", `{"data": {}}`)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, "a's rate never slows b")
	assert.Equal(t, 1.0, metric(t, base, `eventd_refused_total{reason="waits_per_key"}`))
	assert.Equal(t, 1.0, metric(t, base, `eventd_refused_total{reason="signal_rate_per_key"}`))

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, g.Wait())
	assert.Equal(t, http.StatusServiceUnavailable, <-pending)
	assert.NoError(t, cmd.Wait())
}
