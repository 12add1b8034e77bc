package main

import (
	"context"
	"encoding/xml"
	"io"
	"net/http/httptest"
	"strings"
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

func smallRun(url string) config {
	return config{url: url, signalURL: url, keys: []string{"a", "b"}, waiters: 20, names: 4, count: 300, waitMs: 5000, sample: time.Second, settle: time.Second}
}

func TestLoadLosesNothing(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := run(ctx, smallRun(srv.URL), io.Discard)
	require.NoError(t, err)
	assert.True(t, sum.OK(), "%+v", sum)
	assert.Equal(t, 300, sum.Accepted)
	assert.Equal(t, 300.0, sum.EventdSignals, "eventd counted every signal")
	assert.Zero(t, sum.Lost)
	assert.Positive(t, sum.Events)
	assert.Equal(t, 300, sum.Distinct+sum.Drained+int(sum.Replaced+sum.Expired+sum.Evicted))
	assert.Empty(t, sum.Errors)
}

// dropping accepts every signal and delivers none, as a broken server would.
type dropping struct{ eventcoord.Events }

func (dropping) Signal(context.Context, string, eventcoord.Data) (eventcoord.Receipt, error) {
	return eventcoord.Receipt{}, nil
}

func (dropping) Wait(ctx context.Context, _ string, _ ...eventcoord.WaitOption) (eventcoord.Event, error) {
	<-ctx.Done()
	return eventcoord.Event{}, ctx.Err()
}

func TestLossIsDetected(t *testing.T) {
	h := httpapi.New(func(string) eventcoord.Events { return dropping{} })
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg := smallRun(srv.URL)
	cfg.count, cfg.waitMs = 20, 50
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := run(ctx, cfg, io.Discard)
	require.NoError(t, err)
	assert.False(t, sum.OK())
	assert.Equal(t, 20, sum.Lost)
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-url", "http://x/", "-keys", "a, b", "-count", "5"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "http://x", cfg.url)
	assert.Equal(t, []string{"a", "b"}, cfg.keys)
	for _, bad := range [][]string{{"-keys", ""}, {"-names", "0"}, {"-duration", "0s"}} {
		_, err := parseFlags(bad, io.Discard)
		assert.Error(t, err, "%q", bad)
	}
}

func TestSVGChart(t *testing.T) {
	var b strings.Builder
	samples := []sample{{T: 10, RSS: 50 << 20, Goroutines: 2010, P99ms: 1.5}, {T: 20, RSS: 52 << 20, Goroutines: 2012, P99ms: 2}}
	require.NoError(t, writeSVG(&b, "soak <test>", samples))
	var doc struct {
		XMLName   xml.Name `xml:"svg"`
		Polylines []struct {
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
	}
	require.NoError(t, xml.Unmarshal([]byte(b.String()), &doc), "the chart is well-formed XML")
	require.Len(t, doc.Polylines, 3, "RSS, goroutines, p99")
	for _, p := range doc.Polylines {
		assert.Len(t, strings.Fields(p.Points), len(samples))
	}
	assert.Contains(t, b.String(), "soak &lt;test&gt;")
	assert.Equal(t, 50.0, niceCeil(41))
	assert.Equal(t, 2000.0, niceCeil(2000))
	assert.Equal(t, 5.0, niceCeil(2.1))
}

func TestUnreachableSignalURLFails(t *testing.T) {
	srv := testserver.Start(t)
	cfg := smallRun(srv.URL)
	cfg.signalURL, cfg.count = "http://127.0.0.1:1", 5
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := run(ctx, cfg, io.Discard)
	require.NoError(t, err)
	assert.False(t, sum.OK())
	assert.Equal(t, 5, sum.SignalsFailed)
}
