package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eventcoord/eventcoord"
)

// stepTimeout bounds each browser step: a page that never shows what the
// harness waits for is an error, not a hang.
const stepTimeout = 20 * time.Second

// codeTimeout bounds the wait for the one-time code.
const codeTimeout = 30 * time.Second

// logIn logs in to the site at base in the browser tab with the one-time
// code the phone signals as "mfa_code" on ev, and returns the greeting (an
// error if the site refuses the code).
func logIn(tab context.Context, ev eventcoord.Events, base, user, password string) (string, error) {
	// Register before clicking "log in": the click makes the site text the
	// code, and a fast phone must not slip past the wait.
	code, err := expect(tab, ev, "mfa_code")
	if err != nil {
		return "", err
	}
	defer code.Cancel()
	if err := browse(tab, "log in",
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("log-in")),
		chromedp.WaitVisible(chromedp.ID("code")),
	); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(tab, codeTimeout)
	defer cancel()
	got, err := code.Wait(ctx)
	if err != nil {
		return "", fmt.Errorf("waiting for mfa_code: %w", err)
	}
	if err := browse(tab, "type the code",
		chromedp.SendKeys(chromedp.ID("code"), fmt.Sprint(got.Data["code"])),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.CSS("#result, #error")),
	); err != nil {
		return "", err
	}
	return outcome(tab)
}

// transfer asks a human to approve a transfer on the site at base, waits
// up to timeout for the answer signaled as "approval" on ev, then sends
// the transfer if approved and cancels it, giving the reason, if rejected
// or unanswered. It returns what the page says happened.
func transfer(tab context.Context, ev eventcoord.Events, base string, timeout time.Duration) (string, error) {
	answer, err := expect(tab, ev, "approval")
	if err != nil {
		return "", err
	}
	defer answer.Cancel()
	if err := browse(tab, "ask for approval",
		chromedp.Navigate(base+"/transfer"),
		chromedp.Click(chromedp.ID("request-approval")),
		chromedp.WaitVisible(chromedp.ID("pending")),
	); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	button, reason := "cancel", ""
	got, err := answer.Wait(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		reason = fmt.Sprintf("no answer within %v", timeout)
	case err != nil:
		return "", fmt.Errorf("waiting for approval: %w", err)
	case got.Data["approved"] == true:
		button, reason = "confirm", fmt.Sprintf("approved by %v", got.Data["by"])
	default:
		reason = fmt.Sprintf("rejected by %v: %v", got.Data["by"], got.Data["note"])
	}
	if err := browse(tab, "finish the transfer",
		chromedp.SendKeys(chromedp.ID("reason"), reason),
		chromedp.Click(chromedp.ID(button)),
		chromedp.WaitVisible(chromedp.CSS("#result, #error")),
	); err != nil {
		return "", err
	}
	return outcome(tab)
}

// browse runs the actions of one step in the tab, within stepTimeout.
func browse(tab context.Context, step string, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		return fmt.Errorf("browser: %s: %w", step, err)
	}
	return nil
}

// outcome returns the text of the page's #result, or the page's #error
// as an error, within stepTimeout.
func outcome(tab context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`(e => e ? [e.id, e.textContent] : ["", ""])(document.querySelector("#result, #error"))`))
	switch {
	case err != nil:
		return "", fmt.Errorf("browser: read the outcome: %w", err)
	case len(got) != 2 || got[0] == "":
		return "", fmt.Errorf("browser: the page shows no outcome")
	case got[0] == "error":
		return "", fmt.Errorf("the site says: %s", got[1])
	}
	return got[1], nil
}

// pending is an event the harness registered for before causing it.
// *eventcoord.Waiter is one.
type pending interface {
	// Wait returns the event, or ctx.Err() if ctx ends first.
	Wait(ctx context.Context) (eventcoord.Event, error)
	// Cancel withdraws the registration; it is idempotent.
	Cancel()
}

// registerer is an [eventcoord.Events] that can register a waiter before
// the action that causes the signal: the in-process Coordinator (see
// [local]).
type registerer interface {
	RegisterWaiter(name string) (*eventcoord.Waiter, error)
}

// expect registers for the event name on ev, to be called before the
// action that causes it. It first drops an event retained from an earlier
// attempt (a stale code), if ev is an [eventcoord.Poller], so that only a
// signal from now on can answer.
//
// In-process it registers a Waiter: every signal from then on reaches it.
// Over HTTP there is no register call (a wait is registered when its
// request reaches the server, and the client cannot see when that is), so
// it starts the wait in the background now and relies on retention (S2:
// eventd keeps a signal that finds no waiter, 5 minutes by default) for a
// signal that beats the request to the server.
func expect(ctx context.Context, ev eventcoord.Events, name string) (pending, error) {
	if p, ok := ev, true; ok {
		pctx, cancel := context.WithTimeout(ctx, stepTimeout)
		_, err := p.Poll(pctx, name)
		cancel()
		if err != nil && !errors.Is(err, eventcoord.ErrNoEvent) {
			return nil, fmt.Errorf("dropping a stale %s: %w", name, err)
		}
	}
	if r, ok := ev.(registerer); ok {
		w, err := r.RegisterWaiter(name)
		if err != nil {
			return nil, fmt.Errorf("registering for %s: %w", name, err)
		}
		return w, nil
	}
	return waitInBackground(ctx, ev, name), nil
}

// background is a Wait started before it is needed; its goroutine ends
// when the event comes, when ctx ends or at Cancel.
type background struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when ev and err are set
	ev     eventcoord.Event
	err    error
}

func waitInBackground(ctx context.Context, ev eventcoord.Events, name string) *background {
	ctx, cancel := context.WithCancel(ctx)
	b := &background{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.ev, b.err = ev.Wait(ctx, name)
	}()
	return b
}

// Wait returns the event, or ctx.Err() if ctx ends first (then the wait
// is withdrawn, unless the event came meanwhile: delivery wins).
func (b *background) Wait(ctx context.Context) (eventcoord.Event, error) {
	select {
	case <-b.done:
	case <-ctx.Done():
		b.Cancel()
		if b.err != nil {
			return eventcoord.Event{}, ctx.Err()
		}
	}
	return b.ev, b.err
}

// Cancel withdraws the wait and returns when its goroutine has ended.
func (b *background) Cancel() {
	b.cancel()
	<-b.done
}

// local is a scope of an in-process Coordinator as [eventcoord.Events],
// with Register and Poll so that [expect] registers a Waiter.
type local struct {
	eventcoord.Events
	scope eventcoord.Scope
}

func newLocal(s eventcoord.Scope) local { return local{Events: s.Events(), scope: s} }

// Register registers a Waiter for name (see [eventcoord.Scope.Register]).
func (l local) RegisterWaiter(name string) (*eventcoord.Waiter, error) { return l.scope.Register(name) }

// Poll takes the event retained for name (see [eventcoord.Scope.Poll]).
func (l local) Poll(_ context.Context, name string) (eventcoord.Event, error) {
	return l.scope.Poll(name)
}
