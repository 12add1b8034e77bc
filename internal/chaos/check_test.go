package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

// sig is an accepted signal of op id on k1/a from start to end (ms).
func sig(id string, start, end int) Op {
	return Op{Kind: Signal, Key: "k1", Name: "a", OpID: id, Start: time.Duration(start) * ms, End: time.Duration(end) * ms, Outcome: OK, Status: 200}
}

// wait is a wait on k1/a from start to end (ms) with a 1 s timeout that
// returned op id.
func wait(id string, start, end int) Op {
	return Op{Kind: Wait, Key: "k1", Name: "a", OpID: id, Start: time.Duration(start) * ms, End: time.Duration(end) * ms,
		Outcome: OK, Status: 200, Timeout: time.Second}
}

// with returns o changed by f, to write histories compactly.
func with(o Op, f func(*Op)) Op { f(&o); return o }

func final(id string, start int) Op {
	return with(wait(id, start, start+5), func(o *Op) { o.Final, o.Timeout = true, 300*ms })
}

func timedOut(start int) Op {
	return with(wait("", start, start+1000), func(o *Op) { o.Outcome, o.Status = TimedOut, 408 })
}

func check(ops ...Op) *Verdict { return checkWith(Counters{}, ops...) }

func checkWith(c Counters, ops ...Op) *Verdict {
	return Check(&History{Ops: ops, Counters: c}, Config{Slack: 2 * time.Second})
}

func TestCheckCleanHistoryPasses(t *testing.T) {
	v := check(
		wait("s1", 0, 110), wait("s1", 5, 111), // fan-out: both waited before s1
		sig("s1", 100, 110),
		sig("s2", 200, 210),  // retained ...
		wait("s2", 300, 305), // ... and taken by one later waiter
		sig("s3", 400, 410),  // retained until the end
		final("s3", 5000),
		with(sig("s4", 500, 505), func(o *Op) { o.Outcome, o.Status = Unavailable, 503 }), // an error may vanish
		timedOut(600),
	)
	assert.True(t, v.OK(), v.Summary())
	assert.Equal(t, 3, v.Accepted)
	assert.Equal(t, 2, v.Delivered)
	assert.Equal(t, 1, v.FinallyRetained)
	assert.Empty(t, v.Lost)
}

func TestCheckCatchesALostSignal(t *testing.T) {
	v := check(
		sig("s1", 100, 110),
		timedOut(200), // a determinate miss excuses nothing
		final("", 5000),
	)
	require.False(t, v.OK())
	require.Len(t, v.Lost, 1)
	assert.Equal(t, "s1", v.Lost[0].Signal.OpID)
	assert.Contains(t, v.Summary(), "LOST [")
	assert.Contains(t, v.Summary(), "UNEXPLAINED LOSSES:            1")
}

func TestCheckExcusesALossAnIndeterminateWaitMayHaveTaken(t *testing.T) {
	for _, o := range []Outcome{Transport, Cancelled, Unavailable} {
		v := check(
			with(wait("", 50, 120), func(w *Op) { w.Outcome, w.OpID = o, "" }),
			sig("s1", 100, 110),
		)
		assert.True(t, v.OK(), "%v: %s", o, v.Summary())
		assert.Equal(t, 1, v.Excused[ExcusedIndeterminate], o)
	}
	// ... but not one that ended before the signal began, nor one on
	// another name, nor a 4xx, nor a refused connection.
	v := check(
		with(wait("", 0, 90), func(w *Op) { w.Outcome = Transport }),
		with(wait("", 50, 120), func(w *Op) { w.Outcome = Refused }),
		with(wait("", 50, 120), func(w *Op) { w.Outcome, w.Name = Transport, "b" }),
		with(wait("", 50, 120), func(w *Op) { w.Outcome, w.Status = OtherStatus, 429 }),
		sig("s1", 100, 110),
	)
	assert.Len(t, v.Lost, 1, v.Summary())
	// A 5xx is indeterminate.
	v = check(with(wait("", 50, 120), func(w *Op) { w.Outcome, w.Status = OtherStatus, 502 }), sig("s1", 100, 110))
	assert.True(t, v.OK(), v.Summary())
}

func TestCheckExcusesOneSignalPerIndeterminateWait(t *testing.T) {
	cancelled := func(start, end int) Op {
		return with(wait("", start, end), func(w *Op) { w.Outcome, w.OpID = Cancelled, "" })
	}
	// Two signals vanish while one wait was cut off: it returns one event,
	// so it accounts for one of them only.
	v := check(cancelled(0, 500), with(sig("s1", 100, 110), func(o *Op) { o.Woken = 1 }), sig("s2", 200, 210))
	require.Len(t, v.Lost, 1, v.Summary())
	assert.Equal(t, 1, v.Excused[ExcusedIndeterminate])
	assert.Equal(t, "s1", v.Lost[0].Signal.OpID, "the earliest is left, for a later signal may have replaced it")

	// Two such waits account for both; the one that ended before s2 began
	// can only have taken s1, and the matching finds that.
	v = check(cancelled(0, 150), cancelled(50, 500), sig("s1", 100, 110), sig("s2", 200, 210))
	assert.True(t, v.OK(), v.Summary())
	assert.Equal(t, 2, v.Excused[ExcusedIndeterminate])
	v = check(cancelled(0, 150), cancelled(50, 160), sig("s1", 100, 110), sig("s2", 200, 210))
	assert.Len(t, v.Lost, 1, "neither wait was there when s2 began: %s", v.Summary())
}

func TestCheckExcusesReplacedSignalsOnlyAsFarAsTheCountersGo(t *testing.T) {
	ops := []Op{sig("s1", 100, 110), sig("s2", 200, 210), sig("s3", 300, 310), final("s3", 5000)}
	v := checkWith(Counters{Replaced: 2}, ops...)
	assert.True(t, v.OK(), v.Summary())
	assert.Equal(t, 2, v.Excused[ExcusedCounted])

	v = checkWith(Counters{Replaced: 1}, ops...)
	require.Len(t, v.Lost, 1, v.Summary())
	assert.True(t, v.Lost[0].Replaceable)

	// The counters and the indeterminate waits together: the wait can only
	// have taken s1 (it ended before s2 began), the counters cover s2.
	cut := with(wait("", 0, 150), func(w *Op) { w.Outcome, w.OpID = Cancelled, "" })
	v = checkWith(Counters{Replaced: 1}, append(ops, cut)...)
	assert.True(t, v.OK(), v.Summary())
	assert.Equal(t, 1, v.Excused[ExcusedCounted])
	assert.Equal(t, 1, v.Excused[ExcusedIndeterminate])
	// A wait that may have taken either, and a signal nothing came after:
	// the wait must go to that one, the counters to the other.
	last := with(sig("s4", 400, 410), func(o *Op) { o.Name = "b" })
	cutB := with(wait("", 0, 500), func(w *Op) { w.Outcome, w.OpID, w.Name = Cancelled, "", "b" })
	v = checkWith(Counters{Replaced: 2}, append(ops, last, cutB)...)
	assert.True(t, v.OK(), v.Summary())

	// Counted, but nothing came after it that could have replaced it.
	v = checkWith(Counters{Expired: 5}, sig("s1", 100, 110), wait("s1", 200, 210), sig("s2", 300, 310))
	require.Len(t, v.Lost, 1, v.Summary())
	assert.Equal(t, "s2", v.Lost[0].Signal.OpID)
	assert.False(t, v.Lost[0].Replaceable)

	// A concurrent signal that started earlier but ended after it began
	// may have run after it.
	v = checkWith(Counters{Replaced: 1}, sig("s1", 100, 300), sig("s2", 150, 160), final("s1", 5000))
	assert.True(t, v.OK(), v.Summary())
}

func TestCheckCatchesDuplicates(t *testing.T) {
	v := check(sig("s1", 100, 110), wait("s1", 200, 210), wait("s1", 300, 310))
	require.Len(t, v.Duplicates, 1, "the retained event taken twice")
	assert.Len(t, v.Duplicates[0].Rounds, 2)
	assert.Contains(t, v.Summary(), "DUPLICATE (Redis not killed during the first delivery)")

	v = check(sig("s1", 100, 110), wait("s1", 200, 210), final("s1", 5000))
	assert.Len(t, v.Duplicates, 1, "taken, then still retained at the end")

	v = check(wait("s1", 0, 115), sig("s1", 100, 110), wait("s1", 200, 210))
	assert.Len(t, v.Duplicates, 1, "delivered by fan-out and then retained as well")

	v = check(wait("s1", 0, 115), wait("s1", 50, 112), sig("s1", 100, 110))
	assert.True(t, v.OK(), "fan-out to two waiters: %s", v.Summary())

	// A recipient left without it and gave it back: the offer again fans
	// out to the waiters registered then, which started after the answer.
	v = check(with(sig("s1", 100, 110), func(o *Op) { o.Woken = 1 }), wait("s1", 200, 310), wait("s1", 250, 310))
	assert.True(t, v.OK(), "given back, then fan-out: %s", v.Summary())

	// A signal answered 503 may have run after its answer, queued behind a
	// stall, and reached two waiters that started after the answer.
	failed := with(sig("s1", 100, 110), func(o *Op) { o.Outcome, o.Status = Unavailable, 503 })
	v = check(failed, wait("s1", 200, 310), wait("s1", 250, 310))
	assert.True(t, v.OK(), "a failed signal ran late: %s", v.Summary())
	v = check(failed, wait("s1", 200, 210), wait("s1", 250, 310))
	assert.Len(t, v.Duplicates, 1, "but it is still delivered once")

	// Three rounds, and whether Redis was killed while the first one was
	// answered.
	h := &History{
		Ops:    []Op{sig("s1", 100, 110), wait("s1", 90, 120), wait("s1", 95, 125), wait("s1", 400, 410), wait("s1", 700, 710)},
		Faults: []Fault{{Kind: faultRedisKill, Target: "redis", Start: 124 * ms, End: 350 * ms}},
	}
	v = Check(h, Config{Slack: time.Second})
	require.Len(t, v.Duplicates, 1)
	assert.Len(t, v.Duplicates[0].Rounds, 3)
	assert.Len(t, v.Duplicates[0].Rounds[0], 2)
	assert.True(t, v.Duplicates[0].KilledAnswer)
	assert.False(t, v.OK(), "a duplicate fails unless excused")
	v = Check(h, Config{Slack: time.Second, ExcuseKilledAnswers: true})
	assert.True(t, v.OK(), v.Summary())
	assert.Contains(t, v.Summary(), "DUPLICATE (excused: Redis killed during the first delivery)")
	for _, f := range []Fault{
		{Kind: faultRedisStall, Target: "redis", Start: 124 * ms, End: 350 * ms}, // a stall delays the answer, loses none
		{Kind: faultRedisKill, Target: "redis", Start: 80 * ms, End: 100 * ms},   // before the first delivery
		{Kind: faultRedisKill, Target: "redis", Start: 500 * ms, End: 600 * ms},  // well after it
		{Kind: faultReplicaKill, Target: "r1", Start: 124 * ms, End: 350 * ms},   // not Redis
	} {
		h.Faults = []Fault{f}
		v = Check(h, Config{Slack: time.Second, ExcuseKilledAnswers: true})
		assert.False(t, v.Duplicates[0].KilledAnswer, "%v", f)
		assert.False(t, v.OK())
	}
}

func TestCheckCatchesForeignAndAcausalEvents(t *testing.T) {
	v := check(sig("s1", 100, 110), with(wait("s1", 50, 120), func(o *Op) { o.Name = "b" }), final("s1", 5000))
	assert.Len(t, v.Foreign, 1, "another name")
	v = check(sig("s1", 100, 110), with(wait("s1", 50, 120), func(o *Op) { o.Key = "k2" }), final("s1", 5000))
	assert.Len(t, v.Foreign, 1, "another key")
	v = check(wait("nobody", 50, 120))
	assert.Len(t, v.Foreign, 1, "an op nobody signaled")
	v = check(wait("s1", 0, 90), sig("s1", 100, 110))
	assert.Len(t, v.Acausal, 1, "returned before it was signaled")
	assert.False(t, v.OK())
}

func TestCheckCatchesLateAndEarlyWaits(t *testing.T) {
	v := check(with(timedOut(0), func(o *Op) { o.End = 3100 * ms })) // 1 s + 2 s slack
	require.Len(t, v.Late, 1)
	assert.Contains(t, v.Summary(), "LATE")
	v = check(with(timedOut(0), func(o *Op) { o.End, o.Outcome = 3500*ms, Transport }))
	assert.Len(t, v.Late, 1, "an error is late too")
	v = check(with(timedOut(0), func(o *Op) { o.End = 2900 * ms }))
	assert.True(t, v.OK(), "within the slack: %s", v.Summary())
	assert.Equal(t, 1900*ms, v.Overrun, "the margin left of the slack is reported")
	assert.Contains(t, v.Summary(), "most past a timeout 1.9s")
	v = check(with(timedOut(0), func(o *Op) { o.End = 900 * ms }))
	assert.Len(t, v.Early, 1, "a 408 before the timeout")
}

func TestCheckCatchesLeftoversAndPublishes(t *testing.T) {
	h := &History{Quiet: Quiet{Leftover: map[string]int{"eventcoord:w:*": 0, "eventcoord:fl:*": 0}, IdleFor: 2 * time.Second}}
	assert.True(t, Check(h, Config{}).OK())
	h.Quiet.Leftover["eventcoord:w:*"] = 3
	h.Quiet.Samples = []string{"eventcoord:w:1:k1:a"}
	v := Check(h, Config{})
	assert.False(t, v.OK())
	assert.Contains(t, v.Summary(), "eventcoord:w:*: 3 keys")
	h.Quiet.Leftover["eventcoord:w:*"] = 0
	h.Quiet.Publishes = 10
	assert.False(t, Check(h, Config{}).OK())
}

func TestCheckNotesStrandedWaitsAndSeqGoingBack(t *testing.T) {
	long := func(start int) Op {
		return with(timedOut(start), func(o *Op) { o.Timeout, o.End = 3*time.Second, o.Start+3*time.Second })
	}
	s := func(id string, start int, seq uint64) Op {
		return with(sig(id, start, start+10), func(o *Op) { o.Seq, o.Retained = seq, true })
	}
	v := check(long(0), s("s1", 1500, 1), final("s1", 5000))
	require.Len(t, v.Stranded, 1, "registered for 1.5 s, yet the signal was retained")
	assert.True(t, v.OK(), "a note, not a failure")
	assert.Contains(t, v.Summary(), "STRANDED?")

	v = check(long(0), s("s1", 500, 1), final("s1", 5000))
	assert.Empty(t, v.Stranded, "it may not have registered yet")
	h := &History{Ops: []Op{long(0), s("s1", 1500, 1), final("s1", 5000)}, Faults: []Fault{{Kind: faultRedisKill, Start: 200 * ms, End: time.Second}}}
	assert.Empty(t, Check(h, Config{Slack: time.Second}).Stranded, "it may not have registered again after the fault")

	v = check(s("s1", 0, 5), s("s2", 100, 3), s("s3", 105, 4), final("s3", 5000))
	require.Len(t, v.SeqBack, 2)
	assert.Equal(t, "s2", v.SeqBack[0].Signal.OpID)
	v = check(s("s1", 0, 5), with(s("s2", 5, 3), func(o *Op) { o.End = 20 * ms }), final("s2", 5000))
	assert.Empty(t, v.SeqBack, "concurrent signals may take their Seqs in any order")
}

func TestCheckAnyOfAndFreshWaits(t *testing.T) {
	anyOf := func(id string, start, end int, got string) Op {
		return with(wait(id, start, end), func(o *Op) { o.AnyOf, o.Got = []string{"b"}, got })
	}
	onB := func(o Op) Op { return with(o, func(o *Op) { o.Name = "b" }) }
	v := check(onB(sig("s1", 100, 110)), anyOf("s1", 50, 120, "b"))
	assert.True(t, v.OK(), "an event of another of its names: %s", v.Summary())
	assert.Equal(t, 1, v.Delivered)
	v = check(onB(sig("s1", 100, 110)), anyOf("s1", 50, 120, "a"))
	assert.Len(t, v.Foreign, 1, "Eventcoord-Name names another name than the event's")
	v = check(with(sig("s1", 100, 110), func(o *Op) { o.Name = "c" }), anyOf("s1", 50, 120, ""))
	assert.Len(t, v.Foreign, 1, "an event of none of its names")

	// An indeterminate any-of wait takes one event, whichever name.
	cut := with(anyOf("", 0, 500, ""), func(o *Op) { o.Outcome = Transport })
	v = check(cut, sig("s1", 100, 110), onB(sig("s2", 200, 210)))
	require.Len(t, v.Lost, 1, v.Summary())
	assert.Equal(t, 1, v.Excused[ExcusedIndeterminate])
	// A wait on that name only goes first, leaving the any-of wait to the
	// other name.
	v = check(cut, with(wait("", 0, 500), func(o *Op) { o.Outcome = Transport }), sig("s1", 100, 110), onB(sig("s2", 200, 210)))
	assert.True(t, v.OK(), v.Summary())

	fresh := func(id string, start, end int) Op { return with(wait(id, start, end), func(o *Op) { o.Fresh = true }) }
	v = check(sig("s1", 100, 110), fresh("s1", 200, 210))
	require.Len(t, v.Stale, 1, "a fresh wait returned an event signaled before it began")
	assert.False(t, v.OK())
	assert.Contains(t, v.Summary(), "STALE")
	v = check(sig("s1", 100, 210), fresh("s1", 200, 220))
	assert.True(t, v.OK(), "a signal in progress when the fresh wait began: %s", v.Summary())
}

func TestCheckClears(t *testing.T) {
	clear := func(start, end int, cleared bool) Op {
		return Op{Kind: Clear, Key: "k1", Name: "a", Start: time.Duration(start) * ms, End: time.Duration(end) * ms, Outcome: OK, Status: 200, Cleared: cleared}
	}
	v := check(sig("s1", 100, 110), clear(200, 210, true))
	assert.True(t, v.OK(), v.Summary())
	assert.Equal(t, 1, v.Excused[ExcusedCleared])
	v = check(sig("s1", 100, 110), sig("s2", 120, 130), clear(200, 210, true))
	require.Len(t, v.Lost, 1, "a clear removes one event: %s", v.Summary())
	v = check(sig("s1", 100, 110), clear(200, 210, false))
	assert.Len(t, v.Lost, 1, "a clear that found nothing excuses nothing")
	v = check(clear(50, 90, true), sig("s1", 100, 110))
	assert.Len(t, v.Lost, 1, "a clear that ended before the signal began")
	v = check(sig("s1", 100, 110), with(clear(200, 210, false), func(o *Op) { o.Outcome, o.Status = Unavailable, 503 }))
	assert.True(t, v.OK(), "a clear whose answer was lost may have removed it: %s", v.Summary())
}

func TestCheckRegistrations(t *testing.T) {
	reg := func(id string, start, waitStart, end int) Op {
		return with(wait(id, start, end), func(o *Op) { o.Kind, o.WaitStart = Register, time.Duration(waitStart)*ms })
	}
	v := check(sig("s1", 100, 110), reg("s1", 50, 150, 160))
	assert.True(t, v.OK(), "registered before the signal, waited on after it: %s", v.Summary())
	v = check(with(reg("", 0, 2000, 2500), func(o *Op) { o.Outcome, o.Status = TimedOut, 408 }))
	assert.Len(t, v.Early, 1, "the timeout runs from the wait request")
	v = check(with(reg("", 0, 2000, 3500), func(o *Op) { o.Outcome, o.Status = TimedOut, 408 }))
	assert.True(t, v.OK(), "a registration held long before its wait is not late: %s", v.Summary())

	// Its replica died holding it (404 on its wait): it may have taken the
	// event. A cancelled one took nothing.
	v = check(sig("s1", 100, 110), with(reg("", 50, 150, 160), func(o *Op) { o.Outcome, o.Status = OtherStatus, 404 }))
	assert.True(t, v.OK(), v.Summary())
	v = check(sig("s1", 100, 110), with(reg("", 50, 0, 160), func(o *Op) { o.Outcome = Withdrawn }))
	assert.Len(t, v.Lost, 1, "a withdrawn registration gave its event back")
}
