package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLimitStateOfIdleKeysGoesAway checks that the per-key state does not
// grow without bound: a key's wait count goes with its last wait, and its
// rate limiter once it is full again, at the next sweep.
func TestLimitStateOfIdleKeysGoesAway(t *testing.T) {
	l := newLimits(config{maxWaitsPerKey: 2, signalRatePerKey: 10}, prometheus.NewRegistry())
	now := time.Unix(1_000_000, 0)
	l.now = func() time.Time { return now }
	admit := func(f admitFunc, scope string) func() {
		t.Helper()
		rec := httptest.NewRecorder()
		release, ok := f(rec, httptest.NewRequest(http.MethodPost, "/v1/events/x", nil), scope)
		if !ok {
			t.Fatalf("%s refused: %d %s", scope, rec.Code, rec.Body)
		}
		return release
	}

	var releases []func()
	for i := range 1000 {
		releases = append(releases, admit(l.wait, fmt.Sprint("key", i)))
		admit(l.signal, fmt.Sprint("key", i))
	}
	waits, limiters := l.keys()
	if waits != 1000 || limiters != 1000 {
		t.Fatalf("state for %d waits and %d limiters; want 1000 of each while all are in use", waits, limiters)
	}
	for _, release := range releases {
		release()
	}
	if waits, _ := l.keys(); waits != 0 {
		t.Errorf("wait counts of %d keys left after every wait ended", waits)
	}

	now = now.Add(time.Second) // every limiter is full again
	admit(l.signal, "busy")
	if _, limiters := l.keys(); limiters != 1 {
		t.Errorf("%d limiters after the idle keys' refilled; want only the busy key's", limiters)
	}

	// Many keys at once sweep early, without waiting for the clock.
	for i := range 10 * minSweepSize {
		admit(l.signal, fmt.Sprint("burst", i))
		now = now.Add(time.Second / 10 / minSweepSize) // each key refills well before the next doubling
	}
	if _, limiters := l.keys(); limiters > 2*minSweepSize {
		t.Errorf("%d limiters; want at most %d", limiters, 2*minSweepSize)
	}
}
