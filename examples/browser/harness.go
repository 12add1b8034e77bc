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
	// code, and a fast phone must not slip past the wait. Fresh: a code
	// retained from an earlier attempt is not this one's.
	code, err := register(tab, ev, "mfa_code", eventcoord.Fresh())
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
	sms, err := eventcoord.DecodeAs[struct{ Code string }](got)
	if err != nil {
		return "", err
	}
	if err := browse(tab, "type the code",
		chromedp.SendKeys(chromedp.ID("code"), sms.Code),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.CSS("#result, #error")),
	); err != nil {
		return "", err
	}
	return outcome(tab)
}

// transfer asks a human to approve a transfer on the site at base, waits
// up to timeout for the answer, signaled as "approved" or "rejected" on
// ev, then sends the transfer if approved and cancels it, giving the
// reason, if rejected or unanswered. It returns what the page says
// happened.
func transfer(tab context.Context, ev eventcoord.Events, base string, timeout time.Duration) (string, error) {
	// Registered before asking, as in logIn; Fresh, so that an answer to
	// an earlier request cannot decide this one.
	answer, err := register(tab, ev, "approved", eventcoord.Or("rejected"), eventcoord.Fresh())
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
		return "", fmt.Errorf("waiting for approved or rejected: %w", err)
	default:
		if button, reason, err = decide(got); err != nil {
			return "", err
		}
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

// decide returns the button to click and the reason to give for a human's
// answer: the event "approved" or "rejected".
func decide(answer eventcoord.Event) (button, reason string, err error) {
	human, err := eventcoord.DecodeAs[struct{ By, Note string }](answer)
	if err != nil {
		return "", "", err
	}
	if answer.Name == "approved" {
		return "confirm", "approved by " + human.By, nil
	}
	return "cancel", "rejected by " + human.By + ": " + human.Note, nil
}

// register registers a wait on ev for name with opts, to be called before
// the action that causes the event. It takes at most stepTimeout: a stuck
// server is an error, not a hang.
func register(tab context.Context, ev eventcoord.Events, name string, opts ...eventcoord.WaitOption) (eventcoord.Registration, error) {
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	r, err := ev.Register(ctx, name, opts...)
	if err != nil {
		return nil, fmt.Errorf("registering for %s: %w", name, err)
	}
	return r, nil
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
