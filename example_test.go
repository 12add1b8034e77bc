package eventcoord_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/eventcoord/eventcoord"
)

// A goroutine waits for an MFA code that another one signals.
func ExampleCoordinator_Wait() {
	c := eventcoord.New()
	defer c.Close()

	go func() {
		// Signal may come before or after Wait starts: either way the
		// waiter gets it (an early signal is retained).
		c.Signal("mfa_code", eventcoord.Data{"code": "123456"})
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := c.Wait(ctx, "mfa_code")
	if err != nil {
		fmt.Println("no code:", err)
		return
	}
	fmt.Println("code:", ev.Data["code"])
	// Output: code: 123456
}

// A signal that finds nobody waiting is retained for the next waiter.
func ExampleCoordinator_Signal() {
	c := eventcoord.New()
	defer c.Close()

	r, _ := c.Signal("workflow_completed", eventcoord.Data{"result": "success"})
	fmt.Println("woken:", r.Woken, "retained:", r.Retained)

	ev, _ := c.Wait(context.Background(), "workflow_completed")
	fmt.Println("result:", ev.Data["result"])
	// Output:
	// woken: 0 retained: true
	// result: success
}

// Register before the action that causes the signal, so it cannot slip
// past between the action and the wait.
func ExampleCoordinator_Register() {
	c := eventcoord.New()
	defer c.Close()

	w, err := c.Register("build:finished")
	if err != nil {
		panic(err)
	}
	defer w.Cancel() // gives the event back if we never wait for it

	startBuild := func() { go c.Signal("build:finished", eventcoord.Data{"ok": true}) }
	startBuild()

	ev, err := w.Wait(context.Background())
	fmt.Println(ev.Data["ok"], err)
	// Output: true <nil>
}

// Close wakes every waiter with ErrClosed.
func ExampleCoordinator_Close() {
	c := eventcoord.New()
	w, _ := c.Register("never")

	c.Close()
	_, err := w.Wait(context.Background())
	fmt.Println(errors.Is(err, eventcoord.ErrClosed))
	_, err = c.Signal("never", eventcoord.Data{})
	fmt.Println(errors.Is(err, eventcoord.ErrClosed))
	// Output:
	// true
	// true
}

// Scopes keep tenants apart: the same name in two scopes is two events.
func ExampleScope() {
	c := eventcoord.New()
	defer c.Close()

	c.Scope("alice").Signal("order-12345-ready", eventcoord.Data{"by": "alice"})

	w, _ := c.Scope("bob").Register("order-12345-ready")
	defer w.Cancel()
	select {
	case <-w.Done():
		fmt.Println("bob saw alice's event")
	default:
		fmt.Println("bob sees nothing")
	}
	// Output: bob sees nothing
}

// Waiters share the signaled map read-only; copy it before changing it.
func ExampleEvent_copy() {
	c := eventcoord.New()
	defer c.Close()

	c.Signal("x", eventcoord.Data{"n": 1})
	ev, _ := c.Wait(context.Background(), "x")

	mine := maps.Clone(ev.Data) // shallow: nested maps and slices stay shared
	mine["n"] = 2
	fmt.Println(ev.Data["n"], mine["n"])
	// Output: 1 2
}
