package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
	"github.com/eventcoord/eventcoord/internal/redistest"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	buildOnce sync.Once
	bin       string // the eventd binary, built once per test run
	buildErr  error
)

// eventdBinary builds the eventd binary once per test run and returns its path.
func eventdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "eventd-test")
		if err != nil {
			buildErr = err
			return
		}
		bin = filepath.Join(dir, "eventd")
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput() // go test puts its go on PATH
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return bin
}

// startEventd starts the eventd binary on a free loopback port and returns
// its base URL and the running command.
func startEventd(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	bin := eventdBinary(t)

	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	drained := make(chan struct{})
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		<-drained // the log reader below ends with the process
	})
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() {
		close(drained)
		t.Fatal("eventd printed nothing")
	}
	var start struct{ Msg, Addr, Mode string }
	// Copied before the reader below scans on.
	first := lines.Text()
	go func() { // keep draining the log so eventd never blocks on it
		defer close(drained)
		for lines.Scan() {
		}
	}()
	require.NoError(t, json.Unmarshal([]byte(first), &start), "%s", first)
	require.Equal(t, "eventd listening", start.Msg)
	return "http://" + start.Addr, cmd
}

// within returns a context of ctx that ends after d at the latest.
func within(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

func TestBinaryServesAndShutsDownGracefully(t *testing.T) {
	base, cmd := startEventd(t, "-api-keys", "k1,k2")
	c, err := client.New(base, "k1")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang fails, late
	defer cancel()

	r, err := c.Signal(ctx, "mfa_code", eventcoord.Data{"code": "123456"})
	require.NoError(t, err)
	require.True(t, r.Retained)
	ev, err := c.Wait(within(t, ctx, time.Second), "mfa_code")
	require.NoError(t, err)
	assert.Equal(t, "123456", ev.Data["code"])

	// A pending wait is answered with 503 when eventd is told to stop.
	pending := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := c.Wait(ctx, "never")
		pending <- err
	})
	t.Cleanup(func() { cancel(); wg.Wait() }) // joined on every path
	testserver.Await(t, "the wait is pending", func() bool { return waiters(t, base) == 1 })
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	e, ok := errors.AsType[*client.APIError](<-pending)
	require.True(t, ok)
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.NoError(t, cmd.Wait(), "eventd exits 0")
	c.CloseIdleConnections()
}

// An http.Transport often dials a spare connection it never uses;
// http.Server.Shutdown alone would wait 5 s for it and then fail the exit.
func TestUnusedConnectionDoesNotHoldShutdown(t *testing.T) {
	base, cmd := startEventd(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	resp, err := http.Get(base + "/healthz") // the server is accepting, so it has seen conn
	require.NoError(t, err)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, cmd.Wait(), "eventd exits 0")
	_, err = io.ReadAll(conn)
	assert.NoError(t, err, "the unused connection is closed cleanly")
}

// A request still running when the grace is up is cut off, and eventd
// says so with its exit code.
func TestShutdownCutsOffRequestsAfterGrace(t *testing.T) {
	base, cmd := startEventd(t, "-shutdown-grace", "300ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	// The server answers 100 Continue once the handler reads the body: from
	// then on the request is in progress, and its body never comes.
	_, err = io.WriteString(conn, "POST /v1/events/x HTTP/1.1\r\nHost: x\r\nanchor-api-key: k\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	require.NoError(t, err)
	status, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, "100 Continue")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	ee, ok := errors.AsType[*exec.ExitError](cmd.Wait())
	require.True(t, ok, "eventd must report the request it cut off")
	assert.Equal(t, 1, ee.ExitCode())
}

// waiters reads eventd's waiter gauge from /metrics, or returns -1 if it
// cannot. It does not fail the test, so it may be called from any
// goroutine.
func waiters(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
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

func TestTwoEventdsShareRedis(t *testing.T) {
	srv := redistest.Start(t)
	base1, _ := startEventd(t, "-redis", srv.URL())
	base2, _ := startEventd(t, "-redis", srv.URL())
	c1, err := client.New(base1, "k")
	require.NoError(t, err)
	c2, err := client.New(base2, "k")
	require.NoError(t, err)
	defer c1.CloseIdleConnections()
	defer c2.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang fails, late
	defer cancel()

	// Wait on one replica, signal on the other.
	type result struct {
		ev  eventcoord.Event
		err error
	}
	got := make(chan result, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		ev, err := c1.Wait(ctx, "mfa_code")
		got <- result{ev, err}
	})
	t.Cleanup(func() { cancel(); wg.Wait() }) // joined on every path
	testserver.Await(t, "the wait is pending", func() bool { return waiters(t, base1) == 1 })
	// Whether the signal finds the wait in Redis or is retained just before
	// it registers there, the waiter gets it.
	r, err := c2.Signal(ctx, "mfa_code", eventcoord.Data{"code": "123456"})
	require.NoError(t, err)
	res := <-got
	require.NoError(t, res.err)
	assert.Equal(t, "123456", res.ev.Data["code"])

	// Signal first on one replica, consume on the other.
	r, err = c1.Signal(ctx, "done", eventcoord.Data{"ok": true})
	require.NoError(t, err)
	require.True(t, r.Retained)
	ev, err := c2.Wait(within(t, ctx, time.Second), "done")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
}

func TestUnreachableRedisStopsEventd(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	out, err := exec.Command(eventdBinary(t), "-addr", "127.0.0.1:0", "-redis", srv.URL()).CombinedOutput()
	ee, ok := errors.AsType[*exec.ExitError](err)
	require.True(t, ok, "eventd must fail: %v %s", err, out)
	code := ee.ExitCode()
	assert.Equal(t, 1, code)
	assert.Contains(t, string(out), "event service unavailable")
}

func TestTrickledHeadersAreCutOff(t *testing.T) { // slowloris
	base, _ := startEventd(t, "-header-timeout", "200ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	closed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { // the server closes (or answers) once the header time is up
		_, err := io.ReadAll(conn)
		closed <- err
	})
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	header := "POST /v1/events/x HTTP/1.1\r\nHost: x\r\nanchor-api-key: k\r\nX-Slow: "
	for i := 0; i < len(header)+200; i++ {
		if _, err := conn.Write([]byte{header[min(i, len(header)-1)]}); err != nil {
			break // the server hung up
		}
		select {
		case <-closed: // cut off while still trickling
			return
		case <-time.After(20 * time.Millisecond): // one byte at a time, slowly: that is the attack
		}
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Minute): // a hang guard: the header timeout is 200 ms
		t.Fatal("a client trickling its headers held the connection")
	}
}

func TestKilledEventdKeepsRetainedEventsInRedis(t *testing.T) {
	srv := redistest.Start(t)
	base, cmd := startEventd(t, "-redis", srv.URL())
	c, err := client.New(base, "k")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang fails, late
	defer cancel()
	r, err := c.Signal(ctx, "survivor", eventcoord.Data{"n": 1})
	require.NoError(t, err)
	require.True(t, r.Retained)
	c.CloseIdleConnections()

	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no shutdown of any kind
	cmd.Wait()
	base2, _ := startEventd(t, "-redis", srv.URL())
	c2, err := client.New(base2, "k")
	require.NoError(t, err)
	defer c2.CloseIdleConnections()
	ev, err := c2.Wait(within(t, ctx, time.Second), "survivor")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
}
