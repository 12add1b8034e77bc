// Command mfa simulates a browser login that needs a one-time code: an
// automation script registers for the next "mfa_code" event, clicks "send
// code", and waits; a fake phone receives the text and signals the code.
// A code from an earlier attempt, still retained, is left alone. Run it
// with:
//
//	go run ./examples/mfa
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/eventcoord/eventcoord"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mfa:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	c := eventcoord.New()
	defer c.Close()

	// An earlier attempt's code, which nobody waited for, is retained.
	if _, err := c.Signal("mfa_code", eventcoord.Data{"code": "000000"}); err != nil {
		return err
	}
	fmt.Fprintln(out, "phone:  an earlier attempt's code 000000 is retained")

	// Register before clicking, so a fast phone cannot beat the wait;
	// Fresh, so the earlier attempt's code is not taken for this one's.
	fmt.Fprintln(out, "script: registering for the next mfa_code")
	w, err := c.Register("mfa_code", eventcoord.Fresh())
	if err != nil {
		return err
	}
	defer w.Cancel()

	fmt.Fprintln(out, "script: clicking \"send code\", then waiting for the code (30 s timeout)")
	// The phone writes to out until it is done; the script writes again
	// only after that, so the steps print in order.
	phoneDone := make(chan error, 1)
	go func() { phoneDone <- phone(c, out) }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := w.Wait(ctx)
	if err != nil {
		return fmt.Errorf("waiting for mfa_code: %w", err)
	}
	if err := <-phoneDone; err != nil {
		return err
	}
	code, err := eventcoord.DecodeAs[struct{ Code string }](ev)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "script: got code %s (event #%d), typing it in\n", code.Code, ev.Seq)
	fmt.Fprintln(out, "script: logged in")
	return nil
}

// phone plays the user's phone: the text arrives, the code is signaled.
func phone(c *eventcoord.Coordinator, out io.Writer) error {
	fmt.Fprintln(out, "phone:  SMS received: your code is 123456")
	r, err := c.Signal("mfa_code", eventcoord.Data{"code": "123456"})
	if err != nil {
		return fmt.Errorf("signaling mfa_code: %w", err)
	}
	fmt.Fprintf(out, "phone:  signaled mfa_code, woke %d waiter(s)\n", r.Woken)
	return nil
}
