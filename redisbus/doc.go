// Package redisbus coordinates events across processes and machines
// through one Redis, with the semantics of the in-process Coordinator.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	bus, err := redisbus.New(ctx, rdb)
//	...
//	events := bus.Scope("tenant") // an eventcoord.Events
//
// How it keeps the guarantees:
//
//   - Each process keeps its waiters in memory, grouped by name, and
//     subscribes to its own Redis channel before anything else. A waiter
//     joins its local group, then one Lua script either takes the retained
//     event or counts the waiter in Redis, atomically.
//   - A signal is one Lua script: it publishes to the channel of every live
//     process that has waiters of the name (one message per process, not
//     per waiter), or retains the event with its TTL when there are none.
//     So a signal is delivered or retained, never neither (S1, S2).
//   - Each process reports how many local waiters a message woke. If every
//     process it went to found none (they left as it travelled), the last
//     report offers the event again: to new waiters, or retained unless a
//     newer event is (S3).
//   - A signal that cannot reach Redis is an error wrapping
//     eventcoord.ErrUnavailable, never a silent drop.
//   - After a reconnect (Redis restarted) each process re-registers its
//     blocked waiters, which stay blocked meanwhile; signals accepted after
//     the restart reach them. Run Redis with persistence (appendonly) to
//     keep retained events and the Seq counter across restarts.
//
// Relaxations against one process: a Signal whose context ends while Redis
// runs it may or may not have been accepted (as with any remote call); a
// waiter that registers in a process
// while a signal's message is on its way there may also receive that
// signal; events in flight to a process that dies are lost with it; the
// Receipt's Woken counts processes reached, not waiters.
package redisbus
