package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/eventdtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the final page of the login to "+screenshotPath)

const screenshotPath = "../../docs/browser-login.png"

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// requireBrowser returns the path of Chromium; without one it skips the
// test loudly, or fails it under CI=true, where .ci/run installs one.
func requireBrowser(t *testing.T) string {
	t.Helper()
	path, err := findBrowser()
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("!!! %s: the browser tests did NOT run: %v", t.Name(), err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: .ci/run installs chromium)")
	}
	fmt.Fprintln(os.Stderr, msg)
	t.Skip(msg)
	return ""
}

// newBrowser starts a headless browser for the test and returns its tab,
// which the subtests share one after the other (each navigates first);
// it closes the browser, and waits for it to exit, when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	tab, closeBrowser, err := startBrowser(requireBrowser(t))
	require.NoError(t, err)
	t.Cleanup(closeBrowser)
	return tab
}

// backends are the two ways to run the harness: the library in-process,
// and eventd's HTTP API on loopback through the Go client.
var backends = []struct {
	name string
	new  func(t *testing.T) eventcoord.Events
}{
	{"in-process", func(t *testing.T) eventcoord.Events {
		c := eventcoord.New()
		t.Cleanup(func() { c.Close() })
		return c.Scope("harness").Events()
	}},
	{"eventd", func(t *testing.T) eventcoord.Events { return eventdtest.Start(t).Client() }},
}

// lockedBuffer is a bytes.Buffer the site's handlers and the test can
// write to at once.
type lockedBuffer struct {
	mu  sync.Mutex // protects buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startSite serves a site whose phone and approver signal on ev, for the
// test, and returns its base URL.
func startSite(t *testing.T, ev eventcoord.Events, out *lockedBuffer, mangle func(string) string, decision string, data eventcoord.Data) string {
	t.Helper()
	base, stop, err := serve(&site{
		user: "ada", password: "lovelace",
		sendCode:    phone(ev, out, mangle),
		askApproval: approver(ev, out, decision, data),
	})
	require.NoError(t, err)
	t.Cleanup(stop)
	return base
}

func same(code string) string { return code }

func TestLogInWithTheCodeThePhoneSignals(t *testing.T) {
	tab := newBrowser(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ev, out := b.new(t), new(lockedBuffer)
			base := startSite(t, ev, out, same, "", nil)

			// A code left from an earlier attempt must not be typed in.
			stale, err := ev.Signal(t.Context(), "mfa_code", eventcoord.Data{"code": "000000"})
			require.NoError(t, err)

			greeting, err := logIn(tab, ev, base, "ada", "lovelace")
			require.NoError(t, err, out.String())
			assert.Equal(t, "Hello, ada! You are logged in.", greeting)
			// The phone signals before the site answers the click: only a
			// wait registered before the click is woken.
			assert.Contains(t, out.String(), "woke 1 waiter(s), retained false")
			left, err := ev.Poll(t.Context(), "mfa_code")
			require.NoError(t, err)
			assert.Equal(t, stale.Seq, left.Seq, "the fresh wait left the stale code alone")
			if b.name == "in-process" {
				checkScreenshot(t, tab)
			}
		})
	}
}

// checkScreenshot takes a screenshot of the page in tab, checks that it
// is a small PNG, and writes it to docs/ with -update-screenshot.
func checkScreenshot(t *testing.T, tab context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	require.NoError(t, err)
	assert.Equal(t, 480, cfg.Width)
	assert.Less(t, len(shot), 40<<10, "the screenshot is too large for the README")
	if *updateScreenshot {
		require.NoError(t, os.WriteFile(screenshotPath, shot, 0o644))
	}
}

func TestWrongCodeGetsNoGreeting(t *testing.T) {
	tab := newBrowser(t)
	ev := backends[0].new(t)
	out := new(lockedBuffer)
	base := startSite(t, ev, out, func(code string) string { return strings.Repeat("9", len(code)-1) + "x" }, "", nil)

	greeting, err := logIn(tab, ev, base, "ada", "lovelace")
	require.Error(t, err, out.String())
	assert.Empty(t, greeting)
	assert.Contains(t, err.Error(), "Wrong code")
}

func TestApprovalApprovedRejectedOrTimedOut(t *testing.T) {
	tab := newBrowser(t)
	const short = 500 * time.Millisecond
	cases := []struct {
		name     string
		decision string // "": nobody answers
		data     eventcoord.Data
		stale    string // an answer to an earlier request, retained before this one
		timeout  time.Duration
		want     string
	}{
		{"approved", "approved", eventcoord.Data{"by": "grace"}, "rejected", time.Minute,
			"Sent €1,000 to Bob (approved by grace)."},
		{"rejected", "rejected", eventcoord.Data{"by": "grace", "note": "over budget"}, "approved", time.Minute,
			"Cancelled (rejected by grace: over budget)."},
		{"timed out", "", nil, "approved", short,
			"Cancelled (no answer within 500ms)."},
	}
	for _, b := range backends {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				ev, out := b.new(t), new(lockedBuffer)
				base := startSite(t, ev, out, same, tc.decision, tc.data)
				_, err := ev.Signal(t.Context(), tc.stale, eventcoord.Data{"by": "someone else"})
				require.NoError(t, err)
				start := time.Now()
				got, err := transfer(tab, ev, base, tc.timeout)
				require.NoError(t, err, out.String())
				assert.Equal(t, tc.want, got)
				if tc.decision == "" {
					assert.GreaterOrEqual(t, time.Since(start), short)
				}
			})
		}
	}
}
