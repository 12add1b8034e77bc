package chaos

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Kind is what an operation did.
type Kind uint8

// The kinds of operation.
const (
	Signal   Kind = iota // POST /v1/events/{name}
	Wait                 // POST /v1/events/{name}/wait, with anyOf and fresh
	Clear                // DELETE /v1/events/{name}
	Register             // POST /v1/waiters, then POST /v1/waiters/{id}/wait or DELETE /v1/waiters/{id}
)

var kindNames = [...]string{"signal", "wait", "clear", "register"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// waits reports whether the kind returns events: a wait or a registration.
func (k Kind) waits() bool { return k == Wait || k == Register }

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
	Withdrawn                  // a registration cancelled by DELETE before it returned an event
)

var outcomeNames = [...]string{"ok", "408", "503", "other status", "transport error", "client-cancelled", "refused", "withdrawn"}

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

	// Of a wait or a registration: its other names (anyOf), whether it
	// asked for fresh events only, and the name of the event it returned
	// (Eventcoord-Name).
	AnyOf []string `json:",omitempty"`
	Fresh bool     `json:",omitempty"`
	Got   string   `json:",omitempty"`
	// Of a registration: when its wait request started (Start is when it
	// registered), and whether it was cancelled (DELETE) at once instead.
	WaitStart time.Duration `json:",omitempty"`

	// Of a Clear answered 200: whether an event was retained and removed.
	Cleared bool `json:",omitempty"`
}

// names returns the names an operation is on: its name and its anyOf.
func (o Op) names() []string { return append([]string{o.Name}, o.AnyOf...) }

// on reports whether name is one of the operation's names.
func (o Op) on(name string) bool { return o.Name == name || slices.Contains(o.AnyOf, name) }

// Indeterminate reports whether a wait's, registration's or clear's
// outcome leaves open whether it took (or removed) an event: the event may
// have been handed to the request and lost with its answer. A refused
// connection is determinate: nothing was sent. A registration answered
// 404 is not: its replica died, maybe holding its event, which then counts
// as delivered.
func (o Op) Indeterminate() bool {
	switch o.Outcome {
	case Transport, Cancelled, Unavailable:
		return true
	case OtherStatus:
		return o.Status >= 500 || o.Kind == Register && o.Status == http.StatusNotFound
	}
	return false
}

func (o Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%9.3fs %9.3fs] c%-2d r%d %s/%s %s", o.Start.Seconds(), o.End.Seconds(), o.Client, o.Replica, o.Key, strings.Join(o.names(), "|"), o.Kind)
	switch {
	case o.Kind.waits():
		fmt.Fprintf(&b, "(%v)", o.Timeout)
		if o.Fresh {
			b.WriteString(" fresh")
		}
		if o.Kind == Register {
			fmt.Fprintf(&b, " waited from %.3fs", o.WaitStart.Seconds())
		}
		if o.Final {
			b.WriteString(" final")
		}
	case o.Kind == Signal:
		fmt.Fprintf(&b, " %s", o.OpID)
	}
	fmt.Fprintf(&b, " -> %s", o.Outcome)
	switch {
	case o.Kind == Signal && o.Outcome == OK:
		fmt.Fprintf(&b, " seq=%d woken=%d retained=%v", o.Seq, o.Woken, o.Retained)
	case o.Kind.waits() && o.Outcome == OK:
		fmt.Fprintf(&b, " got %s", o.OpID)
		if o.Got != "" {
			fmt.Fprintf(&b, " of %s", o.Got)
		}
	case o.Kind == Clear && o.Outcome == OK:
		fmt.Fprintf(&b, " cleared=%v", o.Cleared)
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
	// Extra is how much longer than the quiet period the leftovers took to
	// expire (at most leaseWait, then they are judged).
	Extra time.Duration `json:",omitempty"`
	// Lingered samples the leftovers found at the end of the quiet period,
	// when some took longer to expire.
	Lingered []string `json:",omitempty"`
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
