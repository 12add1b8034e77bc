package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Config tunes the checker.
type Config struct {
	// Slack is how long past its timeout a wait may take to answer.
	Slack time.Duration
	// ExcuseKilledAnswers accepts a duplicate whose first delivery Redis
	// was killed during: a protocol that takes an answer of unknown fate as
	// given delivers such an event twice rather than lose it.
	ExcuseKilledAnswers bool
}

// Loss is an accepted signal that no wait returned, or a missing one the
// checker excused.
type Loss struct {
	Signal Op
	Reason string // why it is excused; "" when it is not
	// Replaceable tells that a later accepted signal on the same key and
	// name exists, so the counters could have excused it.
	Replaceable bool
}

// Duplicate is an op returned by waits that no single delivery can have
// woken together.
type Duplicate struct {
	Signal Op
	// Rounds groups the waits that returned it (in order of start) by the
	// delivery that may have woken them: each group was in progress at one
	// instant, and no instant is common to two groups.
	Rounds [][]Op
	// KilledAnswer tells that Redis was killed while the first round was
	// delivered: from its first wait's start to a little after its last
	// answer. The process's answer to Redis may then have been lost, and
	// the delivery offered again.
	KilledAnswer bool
	// Excused is KilledAnswer under Config.ExcuseKilledAnswers.
	Excused bool
}

// Verdict is what the checker concluded from a history. The run passes
// when OK says so; Summary explains it.
type Verdict struct {
	Accepted        int // signals answered 200
	Delivered       int // accepted signals returned by at least one wait (not the drain)
	FinallyRetained int // accepted signals returned by the final drain only
	Missing         int // accepted signals no wait returned, excused or not
	Excused         map[string]int
	Lost            []Loss        // accepted, missing and not excused
	Duplicates      []Duplicate   // returned more often than the rules allow
	Foreign         []Op          // waits that returned an op of another key or of none of their names, or no op at all
	Acausal         []Op          // waits that ended before the signal they returned began
	Stale           []Op          // fresh waits that returned an op whose signal ended before they began
	Late            []Op          // waits that took longer than their timeout plus the slack
	Overrun         time.Duration // the most any wait took past its timeout: the slack's margin
	Early           []Op          // 408s before the timeout had passed

	// Notes: suspect, not failures, because the history cannot prove them.
	Stranded []Pair // a 408 wait that was surely registered when a signal ran (S1)
	SeqBack  []Pair // a signal that got a smaller Seq than one that ended before it began (S6)

	h   *History
	cfg Config
}

// Pair is a wait or a signal (First) that a Signal makes suspect.
type Pair struct{ First, Signal Op }

// Margins of the notes: time for a wait to register after it was sent or
// after a fault healed, and for a signal's event to reach a waiter.
const (
	registerMargin = time.Second
	deliverMargin  = 250 * time.Millisecond
)

// Reasons a missing signal is excused.
const (
	ExcusedCleared       = "removed by a Clear that answered cleared"
	ExcusedIndeterminate = "an indeterminate wait or clear on its key and name may have taken it"
	ExcusedCounted       = "replaced, expired or evicted (eventd's counters)"
)

// OK reports whether the history satisfies every invariant.
func (v *Verdict) OK() bool {
	for _, d := range v.Duplicates {
		if !d.Excused {
			return false
		}
	}
	return len(v.Lost) == 0 && len(v.Foreign) == 0 && len(v.Acausal) == 0 && len(v.Stale) == 0 &&
		len(v.Late) == 0 && len(v.Early) == 0 && v.QuietOK()
}

// QuietOK reports whether Redis was left empty of registrations and
// in-flight records and PUBLISH was idle after the quiet period.
func (v *Verdict) QuietOK() bool {
	q := v.h.Quiet
	if q.Err != "" || q.Publishes != 0 {
		return false
	}
	for _, n := range q.Leftover {
		if n != 0 {
			return false
		}
	}
	return true
}

type keyName struct{ key, name string }

// Check judges a history. It is a pure function of h and cfg. A
// registration counts as a wait from its registering to the end of its
// wait (or DELETE); an any-of wait is a wait on each of its names that
// returns one event at most.
//
//  1. Every accepted signal is returned by a wait, or by the final drain,
//     or excused: a Clear on its key and name that answered cleared and
//     ended after the signal started removed one signal; an indeterminate
//     wait or clear (transport error, client-cancelled, 503, other 5xx; a
//     registration whose replica forgot it, 404) on the same key and one
//     of its names that started before the drain and ended after the
//     signal started may have taken it, each such operation one signal at
//     most (it returns one event); or eventd's replaced+expired+evicted
//     counters cover it, one signal per unit, and a later accepted signal
//     on the same key and name exists that could have replaced it. A
//     signal whose sender got an error may be missing.
//  2. A wait returns only ops signaled on its own key and one of its
//     names (the one Eventcoord-Name says), never before that signal
//     began, and a fresh wait never one whose signal ended before the
//     wait began. An op is delivered once: a delivery (the
//     signal's own, or the taking of the retained event, or an offer again
//     after every recipient left without it) wakes the waiters registered
//     at one instant, and an event is offered again only when none of
//     them returned it (S3). So the waits that return an op were all in
//     progress at one instant; waits that share no instant came from two
//     deliveries, and the op is a duplicate. With cfg.ExcuseKilledAnswers,
//     a duplicate whose first delivery Redis was killed during (the
//     answer's fate unknown) is excused.
//  3. Every wait answers within its timeout plus cfg.Slack (a
//     registration's wait request, from its start), and a 408 never comes
//     before the timeout.
//  4. After the quiet period, no leftover keys in Redis and no PUBLISH.
func Check(h *History, cfg Config) *Verdict {
	v := &Verdict{Excused: map[string]int{}, h: h, cfg: cfg}
	signals := map[string]*Op{}            // op id -> its signal
	accepted := map[keyName][]*Op{}        // by key and name, in order of start
	indeterminate := map[keyName][]*Op{}   // waits and clears that may have taken an event unseen, under each of their names
	clears := map[keyName][]*Op{}          // clears that removed an event
	returned := map[string][]*Op{}         // op id -> the waits (and drain) that returned it
	drainStart := time.Duration(1<<63 - 1) // the first final wait's start
	for i := range h.Ops {
		o := &h.Ops[i]
		switch o.Kind {
		case Signal:
			signals[o.OpID] = o
			if o.Outcome == OK {
				v.Accepted++
				kn := keyName{o.Key, o.Name}
				accepted[kn] = append(accepted[kn], o)
			}
			continue
		case Clear:
			kn := keyName{o.Key, o.Name}
			if o.Outcome == OK && o.Cleared {
				clears[kn] = append(clears[kn], o)
			} else if o.Indeterminate() {
				indeterminate[kn] = append(indeterminate[kn], o)
			}
			continue
		}
		if o.Final && o.Start < drainStart {
			drainStart = o.Start
		}
		if o.Indeterminate() {
			for _, n := range o.names() {
				kn := keyName{o.Key, n}
				indeterminate[kn] = append(indeterminate[kn], o)
			}
		}
		from, timed := o.Start, true
		if o.Kind == Register { // only its wait request has a timeout
			from, timed = o.WaitStart, o.WaitStart > 0
		}
		if took := o.End - from; timed && took-o.Timeout > v.Overrun {
			v.Overrun = took - o.Timeout
		}
		if took := o.End - from; timed && took > o.Timeout+cfg.Slack {
			v.Late = append(v.Late, *o)
		} else if o.Outcome == TimedOut && took < o.Timeout {
			v.Early = append(v.Early, *o)
		}
		if o.Outcome == OK {
			returned[o.OpID] = append(returned[o.OpID], o)
		}
	}

	// 2: where each returned op came from, and how often.
	for id, waits := range returned {
		s := signals[id]
		if s == nil {
			v.Foreign = append(v.Foreign, derefs(waits)...)
			continue
		}
		for _, w := range waits {
			switch {
			case w.Key != s.Key || !w.on(s.Name) || w.Got != "" && w.Got != s.Name:
				v.Foreign = append(v.Foreign, *w)
			case w.End < s.Start:
				v.Acausal = append(v.Acausal, *w)
			case w.Fresh && s.End < w.Start:
				v.Stale = append(v.Stale, *w)
			}
		}
		if rounds := rounds(waits); len(rounds) > 1 {
			first := rounds[0]
			last := slices.MaxFunc(first, func(a, b Op) int { return cmpDur(a.End, b.End) }).End
			d := Duplicate{Signal: *s, Rounds: rounds, KilledAnswer: v.redisKilled(first[0].Start, last+killSlop)}
			d.Excused = d.KilledAnswer && cfg.ExcuseKilledAnswers
			v.Duplicates = append(v.Duplicates, d)
		}
	}

	// 1: every accepted signal accounted for.
	missing := map[keyName][]Loss{} // accepted signals no wait returned, by key and name, in order of start
	for kn, sigs := range accepted {
		slices.SortFunc(sigs, func(a, b *Op) int { return cmpDur(a.Start, b.Start) })
		for i, s := range sigs {
			waits := returned[s.OpID]
			delivered, final := false, false
			for _, w := range waits {
				if w.Key == s.Key && w.on(s.Name) {
					delivered = delivered || !w.Final
					final = final || w.Final
				}
			}
			switch {
			case delivered:
				v.Delivered++
				continue
			case final:
				v.FinallyRetained++
				continue
			}
			// A later signal is one that may have run after it in Redis:
			// it ended after this one started.
			later := i < len(sigs)-1 // a signal that started no earlier
			for j := 0; j < i && !later; j++ {
				later = sigs[j].End > s.Start
			}
			missing[kn] = append(missing[kn], Loss{Signal: *s, Replaceable: later})
			v.Missing++
		}
	}
	// The clears that removed an event go first: they surely took one.
	// Of the other excuses either may go first; keep the order that
	// explains more (the counters first on a tie: they say what most
	// likely happened).
	byClears := 0
	for kn, ls := range missing {
		rest := excuse(ls, clears[kn], map[*Op]bool{}, drainStart)
		byClears += len(ls) - len(rest)
		missing[kn] = rest
	}
	lost, byWaits, byCounters := explain(missing, indeterminate, drainStart, h.Counters.Total(), true)
	if l, w, c := explain(missing, indeterminate, drainStart, h.Counters.Total(), false); len(l) < len(lost) {
		lost, byWaits, byCounters = l, w, c
	}
	v.Lost = lost
	v.Excused[ExcusedCleared] = byClears
	v.Excused[ExcusedIndeterminate] = byWaits
	v.Excused[ExcusedCounted] = byCounters

	v.notes(accepted)
	slices.SortFunc(v.Foreign, byStart)
	slices.SortFunc(v.Acausal, byStart)
	slices.SortFunc(v.Stale, byStart)
	slices.SortFunc(v.Late, byStart)
	slices.SortFunc(v.Early, byStart)
	slices.SortFunc(v.Duplicates, func(a, b Duplicate) int { return cmpDur(a.Signal.Start, b.Signal.Start) })
	return v
}

// rounds groups waits by the deliveries that may have woken them. One
// delivery wakes every waiter registered at one instant, so the waits it
// wakes were all in progress then; a group is a maximal run of waits (in
// order of start) that share an instant. Waits that share none came from
// separate deliveries.
func rounds(waits []*Op) [][]Op {
	sorted := derefs(waits)
	slices.SortFunc(sorted, byStart)
	var out [][]Op
	var minEnd time.Duration
	for _, w := range sorted {
		if len(out) == 0 || w.Start > minEnd {
			out = append(out, nil)
			minEnd = w.End
		}
		out[len(out)-1] = append(out[len(out)-1], w)
		minEnd = min(minEnd, w.End)
	}
	return out
}

// killSlop is how long after a delivery's last answer a Redis kill may
// still have cut the process's answer to Redis.
const killSlop = 250 * time.Millisecond

// redisKilled reports whether Redis was killed within [from, to].
func (v *Verdict) redisKilled(from, to time.Duration) bool {
	for _, f := range v.h.Faults {
		if f.Kind == faultRedisKill && f.Start >= from && f.Start <= to {
			return true
		}
	}
	return false
}

// notes finds what the history suggests but cannot prove:
//
//   - Stranded: a wait answered 408 although an accepted signal on its key
//     and name started at least registerMargin after the wait did and
//     after every fault that overlapped them had healed, and ended at
//     least deliverMargin before the wait did. Such a wait was, barring a
//     slower registration than the margin, registered when the signal ran,
//     so S1 says it should have returned an event.
//   - SeqBack: an accepted signal whose Seq is not larger than that of a
//     signal that ended before it began. With appendfsync always Redis
//     keeps the counter across a crash, so S6 says it grows.
func (v *Verdict) notes(accepted map[keyName][]*Op) {
	healed := func(from, to time.Duration) time.Duration { // the end of the last fault overlapping [from, to]
		var end time.Duration
		for _, f := range v.h.Faults {
			if f.Start < to && f.End > from && f.End > end {
				end = f.End
			}
		}
		return end
	}
	for _, w := range v.h.Ops {
		if w.Kind != Wait || w.Outcome != TimedOut || w.Final || len(w.AnyOf) > 0 {
			continue
		}
		for _, s := range accepted[keyName{w.Key, w.Name}] {
			if s.Start > w.Start+registerMargin && s.End+deliverMargin < w.End && s.Start > healed(w.Start, s.Start)+registerMargin {
				v.Stranded = append(v.Stranded, Pair{First: w, Signal: *s})
				break
			}
		}
	}
	var all []*Op
	for _, sigs := range accepted {
		all = append(all, sigs...)
	}
	byEnd := slices.Clone(all)
	slices.SortFunc(all, func(a, b *Op) int { return cmpDur(a.Start, b.Start) })
	slices.SortFunc(byEnd, func(a, b *Op) int { return cmpDur(a.End, b.End) })
	var top *Op // the signal with the largest Seq among those that ended before
	j := 0
	for _, s := range all {
		for ; j < len(byEnd) && byEnd[j].End < s.Start; j++ {
			if top == nil || byEnd[j].Seq > top.Seq {
				top = byEnd[j]
			}
		}
		if top != nil && s.Seq <= top.Seq {
			v.SeqBack = append(v.SeqBack, Pair{First: *top, Signal: *s})
		}
	}
}

// explain excuses what it can of the missing signals: by the
// indeterminate operations (each accounts for one signal at most) and by
// the counters' budget (each unit for one signal that a later one may
// have replaced). countersFirst spends the budget first, on the latest
// signals, which fewer operations can account for; otherwise the
// operations go first and the budget goes to what they leave, earliest
// first. It returns the signals left unexplained, in order of start, and
// how many each excuse took.
func explain(missing map[keyName][]Loss, ops map[keyName][]*Op, drainStart time.Duration, budget uint64, countersFirst bool) (lost []Loss, byOps, byCounters int) {
	keep := func(l Loss) bool { // spends the budget on l if it can
		if l.Replaceable && budget > 0 {
			budget--
			byCounters++
			return true
		}
		return false
	}
	used := map[*Op]bool{} // an any-of wait is under several names, but takes one event
	left := map[keyName][]Loss{}
	if countersFirst {
		var all []Loss
		for _, ls := range missing {
			all = append(all, ls...)
		}
		slices.SortFunc(all, func(a, b Loss) int { return cmpDur(b.Signal.Start, a.Signal.Start) })
		for _, l := range all {
			if !keep(l) {
				kn := keyName{l.Signal.Key, l.Signal.Name}
				left[kn] = append(left[kn], l)
			}
		}
		for _, kn := range sortedKeyNames(left) {
			ls := left[kn]
			slices.Reverse(ls)
			rest := excuse(ls, ops[kn], used, drainStart)
			byOps += len(ls) - len(rest)
			lost = append(lost, rest...)
		}
	} else {
		var rest []Loss
		for _, kn := range sortedKeyNames(missing) {
			ls := missing[kn]
			r := excuse(ls, ops[kn], used, drainStart)
			byOps += len(ls) - len(r)
			rest = append(rest, r...)
		}
		slices.SortFunc(rest, func(a, b Loss) int { return cmpDur(a.Signal.Start, b.Signal.Start) })
		for _, l := range rest {
			if !keep(l) {
				lost = append(lost, l)
			}
		}
	}
	slices.SortFunc(lost, func(a, b Loss) int { return cmpDur(a.Signal.Start, b.Signal.Start) })
	return lost, byOps, byCounters
}

// excuse returns the missing signals (of one key and name, in order of
// start) that the operations ops on that key and name (waits that may
// have taken an event, clears that removed one) cannot account for, and
// marks those it used. An operation may account for a signal if it
// started before the drain and ended after the signal started; it takes
// one event, so it accounts for one signal at most, under any of its
// names. The operations that may account for each signal are nested (the
// later a signal starts, the fewer), so matching the latest signals first
// finds the largest matching within a name; a wait on this name only is
// used before an any-of wait, which another name may need. It leaves the
// earliest unmatched, which are the ones a later signal may have replaced.
func excuse(missing []Loss, ops []*Op, used map[*Op]bool, drainStart time.Duration) []Loss {
	var left []Loss
	for i := len(missing) - 1; i >= 0; i-- {
		s := missing[i].Signal
		var pick *Op
		for _, o := range ops {
			if used[o] || o.Start >= drainStart || o.End <= s.Start {
				continue
			}
			if pick == nil || len(pick.AnyOf) > 0 && len(o.AnyOf) == 0 {
				pick = o
			}
		}
		if pick == nil {
			left = append(left, missing[i])
			continue
		}
		used[pick] = true
	}
	slices.Reverse(left)
	return left
}

// sortedKeyNames returns m's keys in order, so that the matching is the
// same on every run.
func sortedKeyNames[V any](m map[keyName]V) []keyName {
	kns := make([]keyName, 0, len(m))
	for kn := range m {
		kns = append(kns, kn)
	}
	slices.SortFunc(kns, func(a, b keyName) int { return strings.Compare(a.key+"\x00"+a.name, b.key+"\x00"+b.name) })
	return kns
}

func derefs(ops []*Op) []Op {
	out := make([]Op, len(ops))
	for i, o := range ops {
		out[i] = *o
	}
	return out
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func byStart(a, b Op) int { return cmpDur(a.Start, b.Start) }

// maxListed bounds each list in the summary.
const maxListed = 20

// Summary describes the run and every violation found, listing at most 20
// of each kind with the history around them.
func (v *Verdict) Summary() string {
	h := v.h
	var b strings.Builder
	counts := map[string]int{}
	for _, o := range h.Ops {
		k := o.Kind.String()
		if o.Final {
			k = "final wait"
		}
		k += " " + o.Outcome.String()
		if o.Outcome == OtherStatus {
			k += fmt.Sprintf(" %d", o.Status)
		}
		counts[k]++
	}
	fmt.Fprintf(&b, "operations: %d\n", len(h.Ops))
	for _, k := range sortedKeys(counts) {
		fmt.Fprintf(&b, "  %-28s %7d\n", k, counts[k])
	}
	faults := map[string]int{}
	for _, f := range h.Faults {
		faults[f.Kind]++
	}
	fmt.Fprintf(&b, "faults injected: %d\n", len(h.Faults))
	for _, k := range sortedKeys(faults) {
		fmt.Fprintf(&b, "  %-28s %7d\n", k, faults[k])
	}
	fmt.Fprintf(&b, "accepted signals: %d\n", v.Accepted)
	fmt.Fprintf(&b, "  delivered:                 %7d\n", v.Delivered)
	fmt.Fprintf(&b, "  finally retained:          %7d\n", v.FinallyRetained)
	fmt.Fprintf(&b, "  missing:                   %7d\n", v.Missing)
	for _, k := range []string{ExcusedCleared, ExcusedIndeterminate, ExcusedCounted} {
		fmt.Fprintf(&b, "    excused, %s: %d\n", k, v.Excused[k])
	}
	replaceable := 0
	for _, l := range v.Lost {
		if l.Replaceable {
			replaceable++
		}
	}
	fmt.Fprintf(&b, "    UNEXPLAINED LOSSES:      %7d (%d of them have a later signal that could have replaced them; counters: replaced %d, expired %d, evicted %d)\n",
		len(v.Lost), replaceable, h.Counters.Replaced, h.Counters.Expired, h.Counters.Evicted)
	killed, excused := 0, 0
	for _, d := range v.Duplicates {
		if d.KilledAnswer {
			killed++
		}
		if d.Excused {
			excused++
		}
	}
	fmt.Fprintf(&b, "duplicates: %d (%d with Redis killed during the first delivery, %d excused), foreign: %d, acausal: %d, stale (fresh): %d, late waits: %d (slack %v, most past a timeout %v), early 408s: %d\n",
		len(v.Duplicates), killed, excused, len(v.Foreign), len(v.Acausal), len(v.Stale), len(v.Late), v.cfg.Slack, v.Overrun.Round(time.Millisecond), len(v.Early))
	fmt.Fprintf(&b, "notes (suspect, not failures): stranded waits (S1): %d, Seq going back (S6): %d\n", len(v.Stranded), len(v.SeqBack))
	q := h.Quiet
	fmt.Fprintf(&b, "after the quiet period: PUBLISH calls over the last %v: %d; leftovers looked at %v later", q.IdleFor, q.Publishes, q.Extra.Round(time.Millisecond))
	for _, p := range sortedKeys(q.Leftover) {
		fmt.Fprintf(&b, "; %s: %d keys", p, q.Leftover[p])
	}
	b.WriteString("\n")
	if len(q.Keys) > 0 {
		b.WriteString("  keys in Redis, for the record:")
		for _, k := range sortedKeys(q.Keys) {
			fmt.Fprintf(&b, " %s:* %d", k, q.Keys[k])
		}
		b.WriteString("\n")
	}
	if q.Err != "" {
		fmt.Fprintf(&b, "  reading Redis failed: %s\n", q.Err)
	}
	for i, s := range q.Lingered {
		if i == maxListed {
			break
		}
		fmt.Fprintf(&b, "  lingered %s\n", s)
	}
	for i, s := range q.Samples {
		if i == maxListed {
			break
		}
		fmt.Fprintf(&b, "  leftover %s\n", s)
	}

	for i, l := range v.Lost {
		if i == maxListed {
			fmt.Fprintf(&b, "... and %d more losses\n", len(v.Lost)-i)
			break
		}
		fmt.Fprintf(&b, "LOST %s\n", l.Signal)
		v.context(&b, l.Signal)
	}
	for i, d := range v.Duplicates {
		if i == maxListed {
			fmt.Fprintf(&b, "... and %d more duplicates\n", len(v.Duplicates)-i)
			break
		}
		during := "Redis not killed during the first delivery"
		switch {
		case d.Excused:
			during = "excused: Redis killed during the first delivery"
		case d.KilledAnswer:
			during = "Redis killed during the first delivery"
		}
		fmt.Fprintf(&b, "DUPLICATE (%s) %s delivered in %d rounds:\n", during, d.Signal, len(d.Rounds))
		for j, r := range d.Rounds {
			for _, w := range r {
				fmt.Fprintf(&b, "  %d %s\n", j+1, w)
			}
		}
		for _, f := range v.h.Faults {
			if f.End > d.Signal.Start-time.Second && f.Start < d.Rounds[len(d.Rounds)-1][0].End {
				fmt.Fprintf(&b, "    fault %s\n", f)
			}
		}
	}
	list := func(title string, ops []Op) {
		for i, o := range ops {
			if i == maxListed {
				fmt.Fprintf(&b, "... and %d more\n", len(ops)-i)
				break
			}
			fmt.Fprintf(&b, "%s %s (took %v)\n", title, o, o.End-o.Start)
		}
	}
	list("FOREIGN", v.Foreign)
	list("ACAUSAL", v.Acausal)
	list("STALE", v.Stale)
	list("LATE", v.Late)
	list("EARLY", v.Early)
	pairs := func(title, why string, ps []Pair) {
		for i, p := range ps {
			if i == maxListed/2 {
				fmt.Fprintf(&b, "... and %d more\n", len(ps)-i)
				break
			}
			fmt.Fprintf(&b, "%s %s\n    %s %s\n", title, p.First, why, p.Signal)
		}
	}
	pairs("STRANDED?", "though registered when", v.Stranded)
	pairs("SEQ BACK?", "before", v.SeqBack)
	return b.String()
}

// context writes the history around a lost signal: the operations on its
// key and name in progress while it ran (or ended just before), the next
// signal and the next few waits after it, and the faults near it.
func (v *Verdict) context(b *strings.Builder, s Op) {
	const before, afterWaits = 100 * time.Millisecond, 4
	var near []Op
	for _, o := range v.h.Ops {
		same := o.Kind == s.Kind && o.OpID == s.OpID && o.Start == s.Start
		if o.Key == s.Key && o.on(s.Name) && !same && o.End >= s.Start-before {
			near = append(near, o)
		}
	}
	slices.SortFunc(near, byStart)
	waits, signals := 0, 0
	for _, o := range near {
		if o.Start > s.End {
			switch {
			case o.Kind == Signal && signals < 1:
				signals++
			case o.Kind == Wait && waits < afterWaits:
				waits++
			default:
				continue
			}
		}
		fmt.Fprintf(b, "    %s\n", o)
	}
	for _, f := range v.h.Faults {
		if f.End > s.Start-3*time.Second && f.Start < s.End+3*time.Second {
			fmt.Fprintf(b, "    fault %s\n", f)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
