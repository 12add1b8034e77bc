// Command browser drives a real headless Chromium through a login that
// needs a one-time code, and through a transfer that needs a human's
// approval, with eventcoord carrying the code and the answer from a
// simulated phone and approver to the script. The site is served by the
// program itself on 127.0.0.1. It needs Chromium (Debian: apt-get install
// chromium). Run it with the library in-process:
//
//	go run ./examples/browser
//
// or through a running eventd, as with Anchor Browser's hosted API:
//
//	go run ./examples/browser -eventd http://127.0.0.1:8080 -key local
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
)

func main() {
	eventd := flag.String("eventd", "", "base URL of an eventd to coordinate through (default: the library in-process)")
	key := flag.String("key", "local", "API key for -eventd")
	flag.Parse()
	if err := run(os.Stdout, *eventd, *key); err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, eventd, key string) error {
	var ev eventcoord.Events
	if eventd == "" {
		c := eventcoord.New()
		defer c.Close()
		ev = c.Events()
		fmt.Fprintln(out, "coordinating in-process")
	} else {
		c, err := client.New(eventd, key)
		if err != nil {
			return err
		}
		defer c.CloseIdleConnections()
		ev = c
		fmt.Fprintln(out, "coordinating through eventd at", eventd)
	}

	base, stop, err := serve(&site{
		user: "ada", password: "lovelace",
		sendCode:    phone(ev, out, func(code string) string { return code }),
		askApproval: approver(ev, out, "approved", eventcoord.Data{"by": "grace"}),
	})
	if err != nil {
		return err
	}
	defer stop()

	path, err := findBrowser()
	if err != nil {
		return err
	}
	tab, closeBrowser, err := startBrowser(path)
	if err != nil {
		return err
	}
	defer closeBrowser()

	greeting, err := logIn(tab, ev, base, "ada", "lovelace")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "script: the page says:", greeting)
	result, err := transfer(tab, ev, base, 30*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "script: the page says:", result)
	return nil
}

// signalTimeout bounds a signal of the phone or the approver.
const signalTimeout = 10 * time.Second

// phone plays the user's phone: the site texts it a code, and it signals
// mangle(code) as "mfa_code" on ev.
func phone(ev eventcoord.Events, out io.Writer, mangle func(string) string) func(context.Context, string, string) error {
	return func(ctx context.Context, user, code string) error {
		fmt.Fprintf(out, "phone:  SMS to %s: your code is %s\n", user, code)
		ctx, cancel := context.WithTimeout(ctx, signalTimeout)
		defer cancel()
		r, err := ev.Signal(ctx, "mfa_code", eventcoord.Data{"code": mangle(code)})
		if err != nil {
			return fmt.Errorf("signaling mfa_code: %w", err)
		}
		fmt.Fprintf(out, "phone:  signaled mfa_code, woke %d waiter(s), retained %v\n", r.Woken, r.Retained)
		return nil
	}
}

// approver plays the human who approves: asked, it signals its decision
// ("approved" or "rejected") with data on ev; an empty decision is a
// human who never answers.
func approver(ev eventcoord.Events, out io.Writer, decision string, data eventcoord.Data) func(context.Context, string) error {
	return func(ctx context.Context, what string) error {
		fmt.Fprintf(out, "approver: asked to approve %q, answering %q %v\n", what, decision, data)
		if decision == "" {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, signalTimeout)
		defer cancel()
		if _, err := ev.Signal(ctx, decision, data); err != nil {
			return fmt.Errorf("signaling %s: %w", decision, err)
		}
		return nil
	}
}

// serve serves h on a free loopback port and returns its base URL and a
// func that stops it.
func serve(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // ErrServerClosed after Close
	}()
	return "http://" + ln.Addr().String(), func() { srv.Close(); <-done }, nil
}

// errNoBrowser is returned by findBrowser when no Chromium is installed.
var errNoBrowser = errors.New("no Chromium found on PATH (Debian: apt-get install chromium)")

// findBrowser returns the path of Chromium or Chrome, or errNoBrowser.
func findBrowser() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", errNoBrowser
}

// startTimeout bounds the start of the browser.
const startTimeout = 60 * time.Second

// startBrowser starts a headless browser from path with a small viewport
// (480×300, so that a screenshot stays small) and returns a tab, and a
// func that closes the browser and waits until it has exited.
func startBrowser(path string) (tab context.Context, closeBrowser func(), err error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	closeBrowser = func() { cancelTab(); cancelAlloc() }

	// The first action starts the browser, which lives as long as the
	// context of that action: so it runs on tab itself, and the timeout is
	// kept here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }()
	select {
	case err = <-started:
	case <-time.After(startTimeout):
		closeBrowser()
		err = <-started
		return nil, nil, fmt.Errorf("browser: not started within %v: %w", startTimeout, err)
	}
	if err == nil {
		err = browse(tab, "set the viewport", chromedp.EmulateViewport(480, 300))
	}
	if err != nil {
		closeBrowser()
		return nil, nil, fmt.Errorf("browser: start %s: %w", path, err)
	}
	return tab, closeBrowser, nil
}
