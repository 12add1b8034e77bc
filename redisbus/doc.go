// Package redisbus coordinates events across processes and machines
// through one Redis, with the semantics of the in-process Coordinator.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	bus, err := redisbus.New(ctx, rdb)
//	...
//	events := bus.Scope("tenant") // an eventcoord.Events
//
// # What Redis holds
//
// With P the prefix (DefaultPrefix), S a scope and K a scope and name:
//
//	P:w:K      hash: waiter ID -> process ID, one field per registered waiter,
//	           with " g" for a name of an any-of wait and " f<seq>" for a
//	           fresh one registered when the last Seq was seq; a lease
//	           (30 s) renewed every 10 s by the processes waiting on K
//	P:g:W      the claim of any-of wait W: the delivery that serves it
//	P:n:S      the names of scope S that hold state (registrations or a
//	           retained event), score 0, for List's bytewise pages
//	P:r:K      the retained event of K, expiring after the retention
//	P:ri:S, P:rz:S, P:rsn, P:rsb, P:rt
//	           the index of retained events per scope and overall (for the bounds)
//	P:rx       every retained event by expiry: the janitors count expiries
//	           from it each second, also in scopes nobody touches again
//	P:fl:D     delivery D in flight: the event, the processes yet to answer,
//	           the Registrations holding it
//	P:fld      the deliveries in flight by deadline
//	P:tk:W     the delivery that waiter W took from retention (expires)
//	P:ab:W     tombstone of waiter W that left (expires with the lease)
//	P:ctr      counters: signal Seq and delivery IDs
//	P:stat     shared totals: signals, delivered, expired, replaced, evicted,
//	           cleared
//	P:proc:ID  the pub/sub channel of process ID
//
// Every key but P:ctr and P:stat (two small keys) expires on its own or
// lives only while a living process renews it. Scripts build key names
// from the prefix, so a standalone Redis (or one shard) is needed, not
// Redis Cluster.
//
// # The protocol
//
// Every step that changes Redis is one Lua script, so steps never
// interleave.
//
//   - Wait: the waiter joins this process's pending waiters, then the
//     register script either takes the retained event of K (it moves into
//     a delivery in flight, see below) or adds the waiter's own field to
//     P:w:K. A registration is one field per waiter: removing it is
//     idempotent and no count can drift.
//   - Signal: the signal script takes every registration of K (deletes
//     P:w:K) and publishes to each of their processes one message naming
//     its waiters. PUBLISH returns how many subscribers got it: a process
//     that got none (it died, or is reconnecting) is not a delivery. If at
//     least one process got it, a delivery D is recorded in flight; if none
//     did, the event is retained (latest wins, within the bounds), or
//     counted expired with retention off.
//   - Answer: a process that receives delivery D takes the named waiters
//     that are still pending, answers D with how many it took, and only
//     then wakes them. The first answer of at least one counts D
//     delivered; D ends when every process reached has answered. When
//     every one answers none (their waiters had left), the last answer
//     offers the event again: to the registrations of K now, or retained
//     unless a newer event is (given back, S3). A process that answers
//     after D ended (it was paused past the deadline) is told so, and its
//     waiters wait again instead of returning an event that is now
//     someone else's.
//   - Redelivery: a delivery not answered within WithRedeliver (its
//     process died or stalled, or the answer was lost) is offered again by
//     any process's janitor, after one more grace second, so that answers
//     queued behind a Redis stall run first.
//   - Leaving: a waiter whose context ends leaves the pending set at once
//     and returns; its registration is removed in the background by the
//     abandon script, which also leaves a tombstone (so a register script
//     that Redis runs later, queued behind a stall, does nothing) and
//     offers again a retained event the waiter took without hearing the
//     answer. A registration that outlives its waiter anyway costs one
//     round trip when a signal finds it (the process answers none), never
//     an event.
//   - Reconnect: after every new subscription confirmation (Redis
//     restarted, or the connection dropped), each key's local waiters run
//     the register step again together: they take the event retained
//     while they were away (all of them, as one fan-out), or register
//     again.
//   - Register: the register script runs before Register returns, so a
//     signal accepted after it finds the registration (or the
//     Registration took the retained event). A delivery that a
//     Registration takes while no Wait of it is blocked is held: the
//     answer reports it, and unless a waiter already returned the event,
//     D stays in Redis (no deadline, a lease its process renews) counting
//     its holders. A holder that returns the event marks D returned and
//     ends it; one that cancels uncounts itself, and when no holder is
//     left, every process has answered and nobody returned the event, it
//     is given back (delivered is uncounted, the event offered again, as
//     by a Coordinator's Cancel). A Registration whose Wait's context
//     ends withdraws its registrations in one script, unless an offer
//     took them: the delivery, which may still be on its way, then wins
//     (within the bus's timeout), as a signal that returned has reached
//     an in-process Waiter.
//   - Fresh: the register script takes no retained event and stores the
//     last Seq handed out (since) in the registration. An offer skips,
//     and leaves registered, a fresh registration with since >= the
//     event's Seq: a given-back event older than the wait. After a
//     reconnect a fresh waiter takes only a retained event newer than
//     since.
//   - Any-of: wait W registers under the same ID on each of its names in
//     one script, or takes the first retained event of its names in the
//     order given. Whatever makes a delivery naming W (an offer, or the
//     register script taking a retained event) first claims W: SET P:g:W
//     NX in the same script. An offer that cannot claim W drops W's
//     registration: it is not published to and not counted in Woken.
//   - Clear: one script removes the retained event and its index entries
//     and counts it cleared.
//   - List: the scripts that add or remove a registration or a retained
//     event keep P:n:S; a List page reads names from it in bytewise order
//     (ZRANGEBYLEX) and each one's state from its keys, and removes the
//     names it finds holding nothing (registrations that expired with a
//     dead process's lease).
//
// # Invariants of any-of waits
//
//  1. One claim: a delivery that names W holds W's claim, taken atomically
//     with the delivery's creation; so at most one delivery at a time
//     names W, and a signal on another of W's names while W is claimed
//     behaves as if W had never been there (retained with Woken 0, or
//     handed to the other waiters).
//  2. Release: the claim is released exactly when its delivery does not
//     serve W: in the script whose PUBLISH reached no subscriber, or when
//     the delivery is offered again (every process answered none, nobody
//     answered in time, it was given back). A delivery answered with a
//     woken waiter keeps the claim, for a lease only: W is served, and
//     W's process then removes W's registrations on every name, and the
//     claim, in one script. A reconnecting process registers W again; the claim, held or
//     not, never strands it, since a delivery to a process that missed it
//     is offered again and releases the claim first.
//  3. The process decides: it takes a waiter out of its pending set once,
//     under its lock, so even a claim that expired or two deliveries
//     naming W (a race with a reconnect) wake W once; the other delivery
//     is answered none and offered again. Claims only keep the other
//     names free of artifacts; they are never what prevents a duplicate.
//
// # Why every accepted signal ends delivered, retained or counted
//
// A signal the script accepted is, atomically, either retained (S2, or
// counted expired, replaced or evicted, S3) or published to processes in
// a delivery D recorded in flight. D ends in exactly one of three ways:
// some process answers that it woke a waiter (delivered: those waiters
// were pending, were taken under the lock, and are woken after the
// answer); every process answers none (offered again, which is the same
// choice as a signal's); or nobody answers in time (offered again by the
// janitor). A taken retained event is a delivery to one process and ends
// the same way. A delivery held by Registrations ends when one of them
// returns it (delivered) or when all have cancelled (offered again); a
// holder's process that dies leaves it delivered, and its record expires
// with the lease. Clear removes a retained event and counts it, so that
// signals = delivered + retained + expired + replaced + evicted + cleared
// when every process is idle. Offering again is again one of those
// outcomes, and each offer consumes the registrations it publishes to, so
// an event cannot bounce forever among waiters that left.
//
// A waiter is woken by at most one delivery: whoever takes it out of the
// pending set (a delivery, Close, or its own context ending) decides its
// outcome, under one lock. A waiter whose context ends while it is taken
// returns the event (delivery wins).
//
// # Faults, and what they cost
//
//   - A process dies: its registrations reach no subscriber (dropped, the
//     event retained if nobody else took it) or expire with their lease;
//     deliveries in flight to it are offered again after WithRedeliver.
//   - Redis stalls or is down: Signal fails after WithTimeout with an
//     error wrapping eventcoord.ErrUnavailable (it may still have been
//     accepted, as with any remote call whose answer was lost); a Wait ends
//     at its context's deadline whatever Redis does, leaving its cleanup to
//     the background.
//   - Redis restarts: processes reconnect and register their waiters
//     again; an event retained or in flight survives only what Redis's
//     persistence keeps. With appendonly and appendfsync always nothing
//     Redis acknowledged is lost; with everysec (Redis's default) the last
//     second before a crash may be; without persistence, every retained
//     event and every delivery in flight, and Seq restarts from 1.
//
// Relaxations against one process: an answer whose fate is unknown (Redis
// failed mid-call) is taken as given, so under that fault an event may be
// delivered twice rather than lost (also a Registration's return of a
// held event that Redis did not hear, which is retried in the
// background); a Registration holding an event when its Bus closes, or
// whose process stalls past the lease, can no longer give it back;
// List's waiter counts include registrations whose waiters have just
// left or whose process died within the lease; a process that is reconnecting misses
// a signal that other processes' waiters received; the Receipt's Woken
// counts the waiters registered in Redis that the signal reached.
package redisbus
