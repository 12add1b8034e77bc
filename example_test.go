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

// Register with Fresh before the action that sends the code, so that a
// code left over from an earlier attempt is not taken for this one's.
func ExampleFresh() {
	c := eventcoord.New()
	defer c.Close()

	c.Signal("mfa_code", eventcoord.Data{"code": "111111"}) // an earlier attempt's, retained

	w, err := c.Register("mfa_code", eventcoord.Fresh())
	if err != nil {
		panic(err)
	}
	defer w.Cancel()
	sendCode := func() { go c.Signal("mfa_code", eventcoord.Data{"code": "222222"}) }
	sendCode()

	ev, err := w.Wait(context.Background())
	fmt.Println(ev.Data["code"], err)
	// Output: 222222 <nil>
}

// Wait for the first of two answers; the other is left as it was.
func ExampleOr() {
	c := eventcoord.New()
	defer c.Close()

	go c.Signal("rejected", eventcoord.Data{"by": "bob"})

	ev, err := c.Wait(context.Background(), "approved", eventcoord.Or("rejected"))
	fmt.Println(ev.Name, ev.Data["by"], err)
	// Output: rejected bob <nil>
}

// Clear removes a retained event nobody should take any more.
func ExampleCoordinator_Clear() {
	c := eventcoord.New()
	defer c.Close()

	c.Signal("mfa_code", eventcoord.Data{"code": "stale"})
	cleared, _ := c.Clear("mfa_code")
	fmt.Println("cleared:", cleared)

	_, err := c.Poll("mfa_code")
	fmt.Println(errors.Is(err, eventcoord.ErrNoEvent))
	// Output:
	// cleared: true
	// true
}

// List a scope's names page by page, following Next.
func ExampleCoordinator_List() {
	c := eventcoord.New()
	defer c.Close()
	for _, name := range []string{"c", "a", "d", "b"} {
		c.Signal(name, eventcoord.Data{})
	}

	opts := eventcoord.ListOptions{Limit: 3}
	for {
		page, err := c.List(opts)
		if err != nil {
			panic(err)
		}
		for _, n := range page.Names {
			fmt.Print(n.Name, " ")
		}
		fmt.Println("of", page.Scope.Names)
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	// Output:
	// a b c of 4
	// d of 4
}

// Decode reads an event into a Go value the same way on every backend.
func ExampleEvent_Decode() {
	c := eventcoord.New()
	defer c.Close()

	c.Signal("payment", eventcoord.Data{"amount": 42, "currency": "EUR"})
	ev, _ := c.Wait(context.Background(), "payment")

	var p struct {
		Amount   int    `json:"amount"`
		Currency string `json:"currency"`
	}
	if err := ev.Decode(&p); err != nil {
		panic(err)
	}
	fmt.Println(p.Amount, p.Currency)
	// Output: 42 EUR
}

// DecodeAs decodes into a type given as a type argument; numbers decoded
// into an interface value are json.Number on every backend.
func ExampleDecodeAs() {
	c := eventcoord.New()
	defer c.Close()

	c.Signal("payment", eventcoord.Data{"amount": 42})
	ev, _ := c.Wait(context.Background(), "payment")

	m, err := eventcoord.DecodeAs[map[string]any](ev)
	fmt.Printf("%v %T %v\n", m["amount"], m["amount"], err)
	// Output: 42 json.Number <nil>
}

// DataOf turns a struct into Data, which arrives the same in-process as
// over the wire, and DecodeAs turns it back.
func ExampleDataOf() {
	type order struct {
		ID    string  `json:"id"`
		Total float64 `json:"total"`
	}
	c := eventcoord.New()
	defer c.Close()

	data, err := eventcoord.DataOf(order{ID: "A-1", Total: 9.5})
	if err != nil {
		panic(err)
	}
	c.Signal("order", data)
	ev, _ := c.Wait(context.Background(), "order")

	o, err := eventcoord.DecodeAs[order](ev)
	fmt.Printf("%+v %v\n", o, err)
	// Output: {ID:A-1 Total:9.5} <nil>
}

// The README's quick start: register before the action, then wait.
func Example_quickStart() {
	ctx := context.Background()
	c := eventcoord.New() // 64 shards, 5-minute retention, at most 10,000 retained events
	defer c.Close()

	// Register before the action that causes the signal: it cannot slip past.
	w, err := c.Register("mfa_code")
	if err != nil {
		panic(err)
	}
	defer w.Cancel() // gives the event back if we never wait for it

	go c.Signal("mfa_code", eventcoord.Data{"code": "123456"}) // the fake phone

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ev, err := w.Wait(ctx)
	fmt.Println(ev.Data["code"], err)
	// Output: 123456 <nil>
}
