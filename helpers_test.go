package eventcoord_test

import (
	"testing"
	"time"
)

// eventually polls cond until it holds, and fails the test (t.Fatalf, so
// call it from the test's goroutine) if it still does not when the test's
// deadline is near. It assumes nothing about how fast the machine is: the
// only bound is the one go test -timeout sets.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute) // without -timeout
	if end, ok := t.Deadline(); ok {
		deadline = end.Add(-10 * time.Second) // room to report the failure and clean up
	}
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		<-tick.C
	}
}
