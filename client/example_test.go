package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
	"github.com/eventcoord/eventcoord/httpapi"
)

func Example() {
	// An eventd-compatible server; in real use, client.New(client.DefaultBaseURL, key)
	// or the address of your eventd.
	coord := eventcoord.New()
	defer coord.Close()
	srv := httptest.NewServer(httpapi.New(func(scope string) eventcoord.Events { return coord.Scope(scope).Events() }))
	defer srv.Close()

	c, err := client.New(srv.URL, "my-key")
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()

	if _, err := c.Signal(ctx, "mfa_code", eventcoord.Data{"code": "123456"}); err != nil {
		panic(err)
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ev, err := c.Wait(wait, "mfa_code")
	fmt.Println(ev.Data["code"], err)

	soon, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err = c.Wait(soon, "mfa_code")
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// 123456 <nil>
	// true
}

// The README's client snippet, against an eventd on its default address.
// It is compiled, not run: it needs a running eventd.
func Example_eventd() {
	if err := mfaRoundTrip(context.Background()); err != nil {
		fmt.Println(err)
	}
}

func mfaRoundTrip(ctx context.Context) error {
	c, err := client.New("http://127.0.0.1:8080", "my-key")
	if err != nil {
		return err
	}
	if _, err := c.Signal(ctx, "mfa_code", eventcoord.Data{"code": "123456"}); err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ev, err := c.Wait(wait, "mfa_code")
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("nobody signaled mfa_code in time: %w", err)
	}
	fmt.Println(ev.Data["code"], err)
	return err
}
