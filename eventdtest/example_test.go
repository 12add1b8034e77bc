package eventdtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/eventdtest"
)

// A simulated browser login against an in-process eventd: the login page
// registers for the MFA code before it submits the password, so a fast
// phone cannot slip past it, and Fresh keeps an earlier attempt's code
// from being taken for this one.
func Example() {
	srv := eventdtest.New() // in a test: eventdtest.Start(t), closed when the test ends
	defer srv.Close()
	ev := srv.Client() // a client of srv.URL with srv.Key
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r, err := ev.Signal(ctx, "mfa_code", eventcoord.Data{"code": "000000"})
	if err != nil {
		panic(err)
	}
	fmt.Println("an earlier attempt's code is retained:", r.Retained)

	type mfaCode struct {
		Code string `json:"code"`
	}
	submitted, typed := make(chan struct{}), make(chan string)
	go func() { // the login page
		w, err := ev.Register(ctx, "mfa_code", eventcoord.Fresh())
		if err != nil {
			panic(err)
		}
		defer w.Cancel()
		close(submitted) // submit the password: the site texts the phone a code
		got, err := w.Wait(ctx)
		if err != nil {
			panic(err)
		}
		code, err := eventcoord.DecodeAs[mfaCode](got)
		if err != nil {
			panic(err)
		}
		typed <- code.Code
	}()

	<-submitted // the phone receives the text
	r, err = ev.Signal(ctx, "mfa_code", eventcoord.Data{"code": "123456"})
	if err != nil {
		panic(err)
	}
	fmt.Println("phone: signaled the code, woke", r.Woken)
	fmt.Println("login page: typed", <-typed)

	stale, err := ev.Clear(ctx, "mfa_code")
	fmt.Println("the earlier code was left alone, now cleared:", stale, err)
	// Output:
	// an earlier attempt's code is retained: true
	// phone: signaled the code, woke 1
	// login page: typed 123456
	// the earlier code was left alone, now cleared: true <nil>
}
