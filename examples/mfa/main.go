// Command mfa simulates a browser login that needs a one-time code: an
// automation script registers for the "mfa_code" event, clicks "send code",
// and waits; a fake phone receives the text and signals the code. Run it
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

	// Register before clicking, so a fast phone cannot beat the wait.
	fmt.Fprintln(out, "script: registering for mfa_code")
	w, err := c.Register("mfa_code")
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
	fmt.Fprintf(out, "script: got code %v (event #%d), typing it in\n", ev.Data["code"], ev.Seq)
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
