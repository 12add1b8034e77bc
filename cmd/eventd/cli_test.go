package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord/internal/testserver"
)

// cliRun is one finished run of the eventd binary.
type cliRun struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// cliCommand returns the eventd binary run with args, stdin and an
// environment holding none of the variables the CLI reads but env.
func cliCommand(t *testing.T, stdin string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(eventdBinary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTD_") && !strings.HasPrefix(kv, "ANCHOR") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// cli runs the eventd binary to its end (a hang fails after a minute).
func cli(t *testing.T, stdin string, env []string, args ...string) cliRun {
	t.Helper()
	cmd, stdout, stderr := cliCommand(t, stdin, env, args...)
	start := time.Now()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("eventd %q did not end within a minute; stderr: %s", args, stderr)
	}
	r := cliRun{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

// closedURL returns the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

func TestCLISignalThenWait(t *testing.T) {
	base, _ := startEventd(t, "-api-keys", "k1,k2")
	r := cli(t, "", nil, "signal", "-url", base, "-key", "k1", "-data", `{"code": "123456", "n": 12345678901234567890123}`, "mfa_code")
	require.Equal(t, exitOK, r.code, "signal: %s", r.stderr)
	assert.Empty(t, r.stdout)

	// Another key is another scope: nothing for k2.
	r = cli(t, "", nil, "wait", "-url", base, "-key", "k2", "-timeout", "1ms", "mfa_code")
	assert.Equal(t, exitTimeout, r.code, "wait as k2: %s", r.stderr)

	r = cli(t, "", nil, "wait", "-url", base, "-key", "k1", "-timeout", "10s", "mfa_code")
	require.Equal(t, exitOK, r.code, "wait: %s", r.stderr)
	assert.Equal(t, `{"code":"123456","n":12345678901234567890123}`+"\n", r.stdout, "the data, every digit kept, on one line")
}

// The URL and key come from the environment too, the key also from the
// variable Anchor's SDKs read; the data comes from stdin.
func TestCLIWaitThenSignalFromStdinAndEnvironment(t *testing.T) {
	base, _ := startEventd(t, "-api-keys", "k1")
	wait, stdout, stderr := cliCommand(t, "", []string{"EVENTD_URL=" + base, "ANCHORBROWSER_API_KEY=k1"}, "wait", "-timeout", "5m", "build:finished")
	done := startPendingWait(t, wait, base)

	r := cli(t, "{\"ok\": true, \"html\": \"<b>&</b>\"}\n", []string{"EVENTD_URL=" + base, "EVENTD_API_KEY=k1"}, "signal", "build:finished")
	require.Equal(t, exitOK, r.code, "signal: %s", r.stderr)
	select {
	case err := <-done:
		done <- err // for the cleanup
		require.NoError(t, err, "wait: %s", stderr)
	case <-time.After(time.Minute):
		t.Fatal("the wait did not end after the signal")
	}
	assert.Equal(t, `{"html":"<b>&</b>","ok":true}`+"\n", stdout.String())

	r = cli(t, `{}`, []string{"EVENTD_URL=" + base, "ANCHOR_API_KEY=k1"}, "signal", "x")
	assert.Equal(t, exitOK, r.code, "ANCHOR_API_KEY: %s", r.stderr)
}

func TestCLIWaitTimesOut(t *testing.T) {
	base, _ := startEventd(t)
	r := cli(t, "", nil, "wait", "-url", base, "-key", "local", "-timeout", "300ms", "never")
	assert.Equal(t, exitTimeout, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "was not signaled within 300ms")
	assert.GreaterOrEqual(t, r.elapsed, 300*time.Millisecond)
}

// A wait longer than the server's ceiling is made of several requests,
// and still ends at its own timeout.
func TestCLIWaitOutlastsServerCeiling(t *testing.T) {
	base, _ := startEventd(t, "-max-wait", "100ms")
	r := cli(t, "", nil, "wait", "-url", base, "-key", "local", "-timeout", "450ms", "never")
	assert.Equal(t, exitTimeout, r.code, r.stderr)
	assert.GreaterOrEqual(t, r.elapsed, 450*time.Millisecond)
}

func TestCLIBadKeyIsRefused(t *testing.T) {
	base, _ := startEventd(t, "-api-keys", "k1")
	r := cli(t, "", nil, "signal", "-url", base, "-key", "wrong", "-data", "{}", "x")
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, "401 Invalid API key")
	r = cli(t, "", nil, "wait", "-url", base, "-key", "wrong", "-timeout", "5s", "x")
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Empty(t, r.stdout)

}

func TestCLINoServerIsFailure(t *testing.T) {
	url := closedURL(t)
	r := cli(t, "", nil, "signal", "-url", url, "-key", "k", "-data", "{}", "x")
	assert.Equal(t, exitFailure, r.code, r.stderr)
	assert.Contains(t, r.stderr, "connection refused")
	r = cli(t, "", nil, "wait", "-url", url, "-key", "k", "x")
	assert.Equal(t, exitFailure, r.code, r.stderr)
	for _, args := range [][]string{{"clear", "x"}, {"list"}} {
		r = cli(t, "", nil, append([]string{args[0], "-url", url, "-key", "k"}, args[1:]...)...)
		assert.Equal(t, exitFailure, r.code, "%s: %s", args[0], r.stderr)
		assert.Empty(t, r.stdout)
	}
}

func TestCLIServerErrorIsFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error": {"code": 500, "message": "Failed to signal event"}}`))
	}))
	defer srv.Close()
	r := cli(t, "", nil, "signal", "-url", srv.URL, "-key", "k", "-data", "{}", "x")
	assert.Equal(t, exitFailure, r.code, r.stderr)
	assert.Contains(t, r.stderr, "500 Failed to signal event")
	r = cli(t, "", nil, "wait", "-url", srv.URL, "-key", "k", "x")
	assert.Equal(t, exitFailure, r.code, r.stderr)
}

// Usage errors are found before anything is sent: no server is needed.
func TestCLIUsageErrors(t *testing.T) {
	url := closedURL(t)
	for _, tc := range []struct {
		name, stdin, want string
		args              []string
	}{
		{"array", "", "not an array", []string{"signal", "-key", "k", "-data", `[1]`, "x"}},
		{"string on stdin", `"hi"`, `{"value": "hi"}, not a string`, []string{"signal", "-key", "k", "x"}},
		{"null", "", "not null", []string{"signal", "-key", "k", "-data", "null", "x"}},
		{"number", "", "not a number", []string{"signal", "-key", "k", "-data", "42", "x"}},
		{"two objects", "{} {}", "more than one JSON value", []string{"signal", "-key", "k", "x"}},
		{"not JSON", "", "not valid JSON", []string{"signal", "-key", "k", "-data", "{code: 1}", "x"}},
		{"empty stdin", "", "no data", []string{"signal", "-key", "k", "x"}},
		{"no name", "", "NAME is missing", []string{"wait", "-key", "k"}},
		{"empty name", "", "NAME is empty", []string{"wait", "-key", "k", ""}},
		{"long name", "", "NAME is not valid: 1025 bytes, the limit is 1024", []string{"signal", "-key", "k", "-data", "{}", strings.Repeat("n", 1025)}},
		{"name not UTF-8", "", "NAME is not valid: not valid UTF-8", []string{"wait", "-key", "k", "x\xff"}},
		{"two names", "", "one event NAME", []string{"wait", "-key", "k", "a", "b"}},
		{"flag after name", "", "one event NAME", []string{"wait", "a", "-key", "k"}},
		{"unknown flag", "", "flag provided but not defined", []string{"wait", "-nope", "x"}},
		{"no key", "", "no API key", []string{"wait", "x"}},
		{"bad url", "", "want http:// or https://", []string{"wait", "-key", "k", "-url", "ftp://h", "x"}},
		{"negative timeout", "", "want zero", []string{"wait", "-key", "k", "-timeout", "-1s", "x"}},
		{"version with args", "", "unexpected arguments", []string{"version", "x"}},
		{"clear no name", "", "NAME is missing", []string{"clear", "-key", "k"}},
		{"clear name not UTF-8", "", "NAME is not valid: not valid UTF-8", []string{"clear", "-key", "k", "x\xff"}},
		{"clear no key", "", "no API key", []string{"clear", "x"}},
		{"signal negative timeout", "", "-timeout -1s: want a positive duration", []string{"signal", "-key", "k", "-data", "{}", "-timeout", "-1s", "x"}},
		{"clear zero timeout", "", "want a positive duration", []string{"clear", "-key", "k", "-timeout", "0s", "x"}},
		{"list argument", "", `no arguments after the flags: got ["x"]`, []string{"list", "-key", "k", "x"}},
		{"list negative limit", "", "want a limit of zero or more", []string{"list", "-key", "k", "-limit", "-1"}},
		{"list no key", "", "no API key", []string{"list"}},
		{"list zero timeout", "", "-timeout 0s: want a positive duration", []string{"list", "-key", "k", "-timeout", "0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[0] != "version" {
				args = append([]string{args[0], "-url", url}, args[1:]...)
			}
			r := cli(t, tc.stdin, nil, args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.Empty(t, r.stdout)
		})
	}
}

// startPendingWait starts the CLI's wait command and returns once eventd
// at base counts it; done receives its exit (the test that reads it puts it
// back for the cleanup, which kills the command if it still runs).
func startPendingWait(t *testing.T, wait *exec.Cmd, base string) chan error {
	t.Helper()
	require.NoError(t, wait.Start())
	done := make(chan error, 1)
	go func() { done <- wait.Wait() }()
	t.Cleanup(func() {
		if wait.ProcessState == nil {
			wait.Process.Kill()
		}
		<-done
	})
	testserver.Await(t, "the CLI's wait is pending", func() bool { return waiters(t, base) == 1 })
	return done
}

func TestCLIInterruptedWait(t *testing.T) {
	base, _ := startEventd(t)
	wait, _, stderr := cliCommand(t, "", nil, "wait", "-url", base, "-key", "local", "-timeout", "5m", "x")
	done := startPendingWait(t, wait, base)
	require.NoError(t, wait.Process.Signal(syscall.SIGINT))
	err := <-done
	done <- err // for the cleanup
	ee, ok := errors.AsType[*exec.ExitError](err)
	require.True(t, ok, "wait must fail: %v; stderr: %s", err, stderr)
	assert.Equal(t, exitInterrupted, ee.ExitCode())
	testserver.Await(t, "eventd drops the wait", func() bool { return waiters(t, base) == 0 })
}

func TestHelpShowsSubcommands(t *testing.T) {
	r := cli(t, "", nil, "-h")
	assert.Equal(t, 0, r.code)
	for _, want := range []string{"-addr (EVENTD_ADDR)", "eventd signal NAME", "eventd wait NAME", "eventd version", "-version",
		"EVENTD_URL", "ANCHORBROWSER_API_KEY", "1 wait timed out", "3 refused", "4 server or network failure"} {
		assert.Contains(t, r.stderr, want)
	}
	for _, sub := range []string{"signal", "wait"} {
		r := cli(t, "", nil, sub, "-h")
		assert.Equal(t, 0, r.code, sub)
		for _, want := range []string{"Usage: eventd " + sub, "-url", "-key", "-timeout", "Exit codes"} {
			assert.Contains(t, r.stderr, want, sub)
		}
	}
}

// eventd with flags only still serves: startEventd, used by every test
// here, runs it so; a flag it does not know still stops it with 2.
func TestUnknownServeFlagIsUsageError(t *testing.T) {
	r := cli(t, "", nil, "-nope")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "flag provided but not defined: -nope")
	r = cli(t, "", nil, "serve")
	assert.Equal(t, 2, r.code, "no subcommand serve: an argument, refused as before")
}
