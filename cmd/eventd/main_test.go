package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startEventd builds and starts the eventd binary on a free loopback port
// and returns its base URL and the running command.
func startEventd(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eventd")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := bufio.NewScanner(stderr)
	require.True(t, lines.Scan(), "eventd printed nothing")
	var start struct{ Msg, Addr, Mode string }
	require.NoError(t, json.Unmarshal(lines.Bytes(), &start), "%s", lines.Text())
	require.Equal(t, "eventd listening", start.Msg)
	go func() { // keep draining the log so eventd never blocks on it
		for lines.Scan() {
		}
	}()
	return "http://" + start.Addr, cmd
}

func TestBinaryServesAndShutsDownGracefully(t *testing.T) {
	base, cmd := startEventd(t, "-api-keys", "k1,k2")
	c, err := client.New(base, "k1")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	r, err := c.Signal(ctx, "mfa_code", eventcoord.Data{"code": "123456"})
	require.NoError(t, err)
	require.True(t, r.Retained)
	ev, err := c.Wait(ctx, "mfa_code", time.Second)
	require.NoError(t, err)
	assert.Equal(t, "123456", ev.Data["code"])

	// A pending wait is answered with 503 when eventd is told to stop.
	pending := make(chan error, 1)
	go func() {
		_, err := c.Wait(ctx, "never", time.Minute)
		pending <- err
	}()
	require.Eventually(t, func() bool { return waiters(t, base) == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	e, ok := errors.AsType[*client.APIError](<-pending)
	require.True(t, ok)
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.NoError(t, cmd.Wait(), "eventd exits 0")
	c.CloseIdleConnections()
}

// waiters reads eventd's waiter gauge from /metrics.
func waiters(t *testing.T, base string) int {
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "eventd_waiters %d", &n); err == nil {
			return n
		}
	}
	return -1
}
