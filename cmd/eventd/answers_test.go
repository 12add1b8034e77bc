package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
	"github.com/eventcoord/eventcoord/internal/redistest"
)

// A zero timeout is a poll, the same on every backend: the retained event,
// else 408 at once.
func TestZeroTimeoutPollsOnEveryBackend(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			var args []string
			if backend == "redis" {
				args = []string{"-redis", redistest.Start(t).URL()}
			}
			base, _ := startEventd(t, args...)
			c, err := client.New(base, "k")
			require.NoError(t, err)
			t.Cleanup(c.CloseIdleConnections)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			_, err = c.Poll(ctx, "x")
			require.ErrorIs(t, err, eventcoord.ErrNoEvent)
			r, err := c.Signal(ctx, "x", eventcoord.Data{"n": 1})
			require.NoError(t, err)
			require.True(t, r.Retained)
			ev, err := c.Poll(ctx, "x")
			require.NoError(t, err)
			assert.Equal(t, r.Seq, ev.Seq)
			_, err = c.Poll(ctx, "x")
			assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "consumed")
		})
	}
}

// OPTIONS * is not answered by net/http's own empty 200 but, like every
// answer, in JSON.
func TestOptionsStarIsJSON(t *testing.T) {
	base, _ := startEventd(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	_, err = io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(raw), `"error"`)
}
