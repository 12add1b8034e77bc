package main

import (
	"context"
	"io"
	"net/http/httptest"
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
	return config{url: url, keys: []string{"a", "b"}, waiters: 20, names: 4, count: 300, waitMs: 5000, sample: time.Second}
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
type dropping struct{}

func (dropping) Signal(context.Context, string, eventcoord.Data) (eventcoord.Receipt, error) {
	return eventcoord.Receipt{}, nil
}

func (dropping) Wait(ctx context.Context, _ string) (eventcoord.Event, error) {
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
