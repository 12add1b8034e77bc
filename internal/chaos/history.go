package chaos

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what an operation did.
type Kind uint8

// The kinds of operation.
const (
	Signal Kind = iota // POST /v1/events/{name}
	Wait               // POST /v1/events/{name}/wait
)

func (k Kind) String() string {
	if k == Signal {
		return "signal"
	}
	return "wait"
}

// Outcome is how an operation ended, as its client saw it.
type Outcome uint8

// The outcomes of an operation.
const (
	OK          Outcome = iota // 200: a signal accepted, or a wait that returned an event
	TimedOut                   // 408: a wait that got no event
	Unavailable                // 503: the event store was unavailable (or the server shutting down)
	OtherStatus                // any other HTTP status; see Op.Status
	Transport                  // no HTTP answer: connection reset, bad body, client deadline
	Cancelled                  // the client gave up on purpose (a disconnect mid-wait)
	Refused                    // the connection was refused: the request never reached a server
)

var outcomeNames = [...]string{"ok", "408", "503", "other status", "transport error", "client-cancelled", "refused"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", o)
}

// Op is one operation of the history. Times are offsets on one monotonic
// clock (the test's start), taken by the client just before sending and
// just after the answer (or the error) arrived.
type Op struct {
	Kind    Kind
	Client  int    // the client goroutine; -1 for the final drain
	Replica int    // the eventd process it went to
	Key     string // the API key (the scope)
	Name    string // the event name
	Start   time.Duration
	End     time.Duration
	Outcome Outcome
	Status  int    // the HTTP status, 0 without one
	Err     string // the transport error or the error body, if any

	// OpID is, for a signal, the unique id carried in its data; for a wait
	// that returned an event, the id found in that event's data ("" if it
	// had none).
	OpID string

	// Of an accepted signal: what eventd answered.
	Seq      uint64
	Woken    int
	Retained bool

	// Of a wait: the timeoutMs it asked for; and whether it is one of the
	// final drain's waits, which ask what is still retained at the end.
	Timeout time.Duration
	Final   bool
}

// Indeterminate reports whether a wait's outcome leaves open whether it
// took an event: the event may have been handed to the request and lost
// with its answer. A refused connection is determinate: nothing was sent.
func (o Op) Indeterminate() bool {
	switch o.Outcome {
	case Transport, Cancelled, Unavailable:
		return true
	case OtherStatus:
		return o.Status >= 500
	}
	return false
}

func (o Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%9.3fs %9.3fs] c%-2d r%d %s/%s %s", o.Start.Seconds(), o.End.Seconds(), o.Client, o.Replica, o.Key, o.Name, o.Kind)
	if o.Kind == Wait {
		fmt.Fprintf(&b, "(%v)", o.Timeout)
		if o.Final {
			b.WriteString(" final")
		}
	} else {
		fmt.Fprintf(&b, " %s", o.OpID)
	}
	fmt.Fprintf(&b, " -> %s", o.Outcome)
	switch {
	case o.Kind == Signal && o.Outcome == OK:
		fmt.Fprintf(&b, " seq=%d woken=%d retained=%v", o.Seq, o.Woken, o.Retained)
	case o.Kind == Wait && o.Outcome == OK:
		fmt.Fprintf(&b, " got %s", o.OpID)
	}
	if o.Outcome == OtherStatus {
		fmt.Fprintf(&b, " %d", o.Status)
	}
	if o.Err != "" && o.Outcome != TimedOut {
		fmt.Fprintf(&b, " (%s)", o.Err)
	}
	return b.String()
}

// The kinds of fault.
const (
	faultRedisKill   = "redis-kill"   // SIGKILL redis-server, start it again on the same port and data
	faultRedisStall  = "redis-stall"  // DEBUG SLEEP
	faultReplicaKill = "replica-kill" // SIGKILL one eventd, start it again on the same port
)

// Fault is one fault the nemesis injected, from its start until it was
// healed.
type Fault struct {
	Kind   string // one of the kinds above
	Target string // what it hit: "redis" or "r1"
	Start  time.Duration
	End    time.Duration
	Hold   time.Duration // how long the fault was meant to last
	Err    string        // a healing step that failed, if any
}

func (f Fault) String() string {
	s := fmt.Sprintf("[%9.3fs %9.3fs] %s %s for %v", f.Start.Seconds(), f.End.Seconds(), f.Kind, f.Target, f.Hold)
	if f.Err != "" {
		s += " (" + f.Err + ")"
	}
	return s
}

// Counters are eventd's Redis-wide counts of signals that left without a
// waiter: eventcoord_signal_outcomes_total{outcome=...}.
type Counters struct {
	Replaced, Expired, Evicted uint64
}

// Total is every signal the counters say left without being delivered.
func (c Counters) Total() uint64 { return c.Replaced + c.Expired + c.Evicted }

// Quiet is what Redis looked like after the quiet period, with no client
// traffic.
type Quiet struct {
	// Leftover counts the keys found by each SCAN MATCH pattern; Samples
	// holds a few of them.
	Leftover map[string]int
	Samples  []string
	// Keys counts every key in Redis by the first two parts of its name
	// ("eventcoord:r"), for the record: only Leftover is judged.
	Keys map[string]int
	// Publishes is how many PUBLISH calls Redis ran over the last IdleFor
	// of the quiet period.
	Publishes int64
	IdleFor   time.Duration
	Err       string // reading Redis failed
}

// History is everything a chaos run recorded: the operations, the faults,
// and what eventd and Redis said at the end.
type History struct {
	Ops      []Op
	Faults   []Fault
	Counters Counters
	Quiet    Quiet
}
