// Package eventcoord makes one goroutine wait until another says "go",
// with a JSON object attached.
//
//	c := eventcoord.New()
//	defer c.Close()
//
//	go c.Signal("mfa_code", eventcoord.Data{"code": "123456"})
//	ev, err := c.Wait(ctx, "mfa_code") // ev.Data["code"] == "123456"
//
// [Coordinator.Signal] hands its data to every goroutine blocked in
// [Coordinator.Wait] on the same name (fan-out). If nobody waits, the event
// is retained, for a configurable time, for the next waiter, which consumes
// it; a newer signal replaces a retained one. [Coordinator.Register]
// registers a waiter before the action that will cause the signal, so the
// signal cannot slip past in between.
//
// Options change what a wait waits for. With [Fresh] it leaves retained
// events alone and returns only a signal sent after it registered: an
// earlier attempt's MFA code is not taken for this one's. With [Or] it
// waits on several names (approved or rejected) and returns the first
// event of any of them, with Event.Name saying which; it consumes only that
// one and leaves the other names exactly as if it had never waited. Of
// events retained when it starts, the first name's in the order given is
// taken. [Coordinator.Clear] removes a name's retained event, and
// [Coordinator.List] pages through a scope's names that hold state
// (waiters or a retained event), in bytewise order, with the scope's
// totals. [Event.Decode], [DecodeAs] and [DataOf] read and write payloads
// as Go values, with numbers as json.Number, the same on every backend.
//
// [Events] is what the in-process Coordinator, the HTTP client (package
// client) and the Redis backend (package redisbus) have in common, checked
// alike by package eventcoordtest.
//
// The rules, numbered as in the project's design notes:
//
//   - S1 fan-out: a signal reaches every waiter registered before it; all
//     receive the same Event.
//   - S2 retention: a signal nobody waits for is kept for the next waiter
//     (latest wins), for up to the retention TTL, within a bound.
//   - S3 nothing lost: every accepted signal ends up returned by a waiter,
//     retained, expired, replaced, evicted or cleared, each counted in
//     [Stats]. A waiter that gives up holding an event nobody else took
//     gives it back.
//   - S4 cancellation: Wait returns when its context ends and leaves nothing
//     behind; idle names hold no memory.
//   - S5 close: [Coordinator.Close] wakes all waiters with [ErrClosed].
//   - S6 order: Event.Seq grows with every signal of a Coordinator.
//   - S7 validation: bad names and nil data are errors that change nothing.
//   - S8 scopes: the same name in two [Scope]s is two events.
//   - S9 ownership: Signal takes ownership of its Data; waiters share it
//     read-only.
//   - S10 tenancy: retained events are bounded in number and in bytes per
//     scope as well as overall ([WithMaxRetainedPerScope],
//     [WithMaxRetainedBytes]); one scope's signals evict only its own
//     events, or those of a scope holding more than it does.
//
// A Coordinator is safe for concurrent use. Its state is sharded by a hash
// of the name, so unrelated names rarely contend, and a fan-out costs one
// channel close however many waiters it wakes.
package eventcoord
