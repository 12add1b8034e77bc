package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
)

// lines decodes eventd list's output, one JSON object a line.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "line %q", l)
		got = append(got, m)
	}
	return got
}

// names returns the name of each listed line.
func names(ls []map[string]any) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i], _ = l["name"].(string)
	}
	return out
}

func TestCLIListAndClear(t *testing.T) {
	base, _ := startEventd(t, "-api-keys", "k1,k2")
	for _, name := range []string{"beta", "alpha"} {
		r := cli(t, "", nil, "signal", "-url", base, "-key", "k1", "-data", `{"html": "<&>"}`, name)
		require.Equal(t, exitOK, r.code, r.stderr)
	}
	wait, _, _ := cliCommand(t, "", nil, "wait", "-url", base, "-key", "k1", "-timeout", "5m", "gamma")
	startPendingWait(t, wait, base)

	r := cli(t, "", nil, "list", "-url", base, "-key", "k1")
	require.Equal(t, exitOK, r.code, r.stderr)
	got := lines(t, r.stdout)
	require.Equal(t, []string{"alpha", "beta", "gamma"}, names(got), "bytewise order, every name holding state")
	assert.Equal(t, map[string]any{"name": "gamma", "waiters": 1.0, "retained": false}, got[2], "a name with a waiter")
	assert.Equal(t, true, got[0]["retained"])
	assert.Equal(t, 0.0, got[0]["waiters"])
	for _, field := range []string{"seq", "signaledAt", "size"} {
		assert.Contains(t, got[0], field, "a retained event's %s", field)
	}

	r = cli(t, "", nil, "list", "-url", base, "-key", "k1", "-limit", "2")
	assert.Equal(t, []string{"alpha", "beta"}, names(lines(t, r.stdout)), "-limit")
	r = cli(t, "", nil, "list", "-url", base, "-key", "k1", "-after", "alpha")
	assert.Equal(t, []string{"beta", "gamma"}, names(lines(t, r.stdout)), "-after")

	// Another key is another scope: it sees nothing and clears nothing.
	r = cli(t, "", nil, "list", "-url", base, "-key", "k2")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	r = cli(t, "", nil, "clear", "-url", base, "-key", "k2", "alpha")
	assert.Equal(t, exitNone, r.code, r.stderr)
	assert.Contains(t, r.stderr, `no event was retained for "alpha"`)

	r = cli(t, "", nil, "clear", "-url", base, "-key", "k1", "alpha")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	r = cli(t, "", nil, "clear", "-url", base, "-key", "k1", "alpha")
	assert.Equal(t, exitNone, r.code, "once: %s", r.stderr)
	r = cli(t, "", nil, "wait", "-url", base, "-key", "k1", "-timeout", "1ms", "alpha")
	assert.Equal(t, exitTimeout, r.code, "cleared: a wait finds nothing")
	r = cli(t, "", nil, "clear", "-url", base, "-key", "k1", "gamma")
	assert.Equal(t, exitNone, r.code, "a waiter is not an event")
	assert.Equal(t, 1, waiters(t, base), "and it is left waiting")

	r = cli(t, "", nil, "list", "-url", base, "-key", "wrong")
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, "401")
}

// list pages through every name, more than one answer holds, unless
// -limit says fewer.
func TestCLIListPagesThroughEveryName(t *testing.T) {
	base, _ := startEventd(t, "-max-retained-per-key", "2000") // the default, 1000, would evict the first
	c, err := client.New(base, "k")
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	n := eventcoord.MaxListLimit + 5
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("n%05d", i)
		_, err := c.Signal(context.Background(), want[i], eventcoord.Data{})
		require.NoError(t, err)
	}
	r := cli(t, "", nil, "list", "-url", base, "-key", "k")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, want, names(lines(t, r.stdout)))
	r = cli(t, "", nil, "list", "-url", base, "-key", "k", "-limit", fmt.Sprint(eventcoord.MaxListLimit+1))
	assert.Equal(t, want[:eventcoord.MaxListLimit+1], names(lines(t, r.stdout)))
}
