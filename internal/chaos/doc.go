// Package chaos is a Jepsen-style checker of eventcoord's Redis mode: real
// eventd processes on one real redis-server, clients that signal, wait,
// clear and register at random, a nemesis that kills, restarts and stalls
// them, a recorded history of every operation, and a pure function
// ([Check]) that judges the history against the semantics of DESIGN.md
// (S1–S3, S6), of fresh and any-of waits, and the waits' timeouts.
//
// The clients' operations: signals; waits, some on two or three names
// (anyOf), some fresh; clears (DELETE /v1/events/{name}); and
// registrations (POST /v1/waiters with a 3 s lease, some any-of or fresh),
// after which the client often signals one of their names itself
// (register before acting), then waits on the registration or cancels it
// (DELETE /v1/waiters/{id}: a held event is given back).
//
// The test TestChaos (chaos_test.go) runs it. It is seeded: the seed it
// prints replays the same clients' choices and the same fault schedule
// (not the same interleaving: the processes' timing is their own).
//
//	go test ./internal/chaos -run TestChaos -v                    # the CI run (part of go test ./...), about 70 s
//	go test ./internal/chaos -run TestChaos -v -chaos.seed 42     # replay a seed
//	go test ./internal/chaos -run TestChaos -v -timeout 20m -chaos.duration 10m
//	go test ./internal/chaos -run TestRecheck -v -chaos.recheck /tmp/eventcoord-chaos-42.json
//
// Flags: -chaos.seed (default random, printed), -chaos.duration (of client
// traffic and faults, default 45s; stalls last up to 3 s, or 8 s from
// 5 minutes on), -chaos.settle (the quiet period before the final checks,
// default 15s), -chaos.slack (how late past its timeout a wait may answer,
// default 2s), -chaos.faults (all, none, or a list of redis-kill,
// redis-stall, replica-kill), -chaos.clients (16), -chaos.replicas (3),
// -chaos.out (write the history as JSON; a failing run writes it to the
// temporary directory anyway, with the replicas' logs beside it),
// -chaos.recheck (TestRecheck checks such a file again), and
// -chaos.excuse-killed-answers (see 2 below). Under -short TestChaos is
// skipped.
//
// Redis runs with appendonly yes and appendfsync always, so that a crash
// loses nothing Redis acknowledged: the checker's "nothing lost" holds only
// under that setting. With everysec (Redis's default) the last second of
// acknowledged writes may vanish in a crash, and with it signals.
//
// # What is checked
//
// Events are identified by their payload, {"op":"c3-17"}, never by Seq
// (which may restart if Redis loses state). After the traffic and the
// faults stop, the test observes Redis for the quiet period, then drains:
// one wait (timeoutMs 300) per key and name on a live replica; what those
// return was "finally retained". [Check] then requires:
//
//  1. Every accepted signal (200) was returned by a wait or by the drain,
//     or is excused: a Clear that answered cleared removed it (one signal
//     each); an indeterminate wait or clear on its key and one of its names
//     (transport error, client-cancelled, 503, 5xx; a registration whose
//     replica forgot it, 404, as it may have died holding the event)
//     overlapped it and may have taken it with its lost answer, each such
//     operation one signal at most since a wait returns one event, whatever
//     its names; or eventd's Redis-wide counters
//     eventcoord_signal_outcomes_total{outcome="replaced"|"expired"|"evicted"}
//     add up to at least the number of such losses, and each has a later
//     accepted signal on its key and name. A signal whose sender got an
//     error may be missing; nothing else may.
//  2. No wait returns an op of another key or of none of its names (nor one
//     of another name than its Eventcoord-Name header says), one whose
//     signal had not started when the wait ended, or, for a fresh wait, one
//     whose signal ended before the wait began (stale). A registration is a
//     wait from its registering to its wait's answer. An op is delivered
//     once: a delivery
//     (the signal's own, the taking of the retained event, or an offer again
//     after every recipient left without it) wakes the waiters registered
//     at one instant, and an event is offered again only if none of them
//     returned it (S3). So the waits that return one op were all in
//     progress at one instant; waits that share none got it from two
//     deliveries: a duplicate. (A given-back event fans out to every
//     waiter registered then, in process as in Redis, so "at most one wait
//     after the signal's answer" would be too strict.) A duplicate whose
//     first delivery Redis was killed during is marked so: a protocol that
//     takes an answer of unknown fate as given delivers twice rather than
//     lose; -chaos.excuse-killed-answers accepts exactly those.
//  3. Every wait ends within its timeout plus the slack (a registration's
//     wait request, from its start); a 408 never comes before the timeout.
//  4. After the quiet period, SCAN finds no keys eventcoord:w:*
//     (registrations), eventcoord:fl:* (deliveries in flight or held),
//     eventcoord:g:* (any-of waits' claims) or eventcoord:pend:* (the older
//     protocol's in-flight records), and Redis ran no PUBLISH over its last
//     two seconds. What a killed replica left expires with its lease
//     (30 s), so leftovers are looked at again for up to 35 s more before
//     they are judged; the summary says how long they took.
//
// It also notes, without failing, what it suspects but cannot prove from
// the clients' side: a 408 wait that must have been registered when a
// signal on its name ran (S1), and a Seq smaller than one handed out
// before the signal began (S6).
package chaos
