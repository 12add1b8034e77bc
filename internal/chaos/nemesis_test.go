package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventcoord/eventcoord/internal/redistest"
)

var allFaults = []string{faultRedisKill, faultRedisStall, faultReplicaKill}

// plan is one fault of the schedule: at At, Kind on Target for Hold.
type plan struct {
	At     time.Duration
	Kind   string
	Target int // the replica, for replica-kill
	Hold   time.Duration
}

// Nemesis pacing.
const (
	minGap      = time.Second     // between the end of one fault and the next
	maxGap      = 4 * time.Second //
	minDown     = 100 * time.Millisecond
	maxDown     = 2 * time.Second // how long a killed process stays down
	minStall    = 500 * time.Millisecond
	maxFaultEnd = 5 * time.Second // no fault starts this close to the end of traffic
)

// schedule draws the faults for a run of the given duration from rng, one
// at a time: each starts after the previous one healed and a gap. Stalls
// last up to maxStall.
func schedule(rng *rand.Rand, duration time.Duration, replicas int, kinds []string, maxStall time.Duration) []plan {
	var out []plan
	if len(kinds) == 0 {
		return nil
	}
	span := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	for at := span(minGap, maxGap); at < duration-maxFaultEnd; {
		p := plan{At: at, Kind: kinds[rng.IntN(len(kinds))]}
		switch p.Kind {
		case faultRedisStall:
			p.Hold = span(minStall, maxStall)
		case faultReplicaKill:
			p.Target = rng.IntN(replicas)
			p.Hold = span(minDown, maxDown)
		default:
			p.Hold = span(minDown, maxDown)
		}
		out = append(out, p)
		at += p.Hold + span(minGap, maxGap)
	}
	return out
}

// nemesis injects faults on a schedule.
type nemesis struct {
	t        *testing.T
	d        *driver // its clock
	redis    *redistest.Server
	replicas []*replica
}

// run executes the schedule, one fault at a time, healing each before the
// next, and returns the faults as they happened. It stops early when ctx
// ends, healing the fault in progress. An error is a fault it could not
// heal (a process that would not start again).
func (n *nemesis) run(ctx context.Context, sched []plan) ([]Fault, error) {
	var faults []Fault
	for _, p := range sched {
		if !n.sleepUntil(ctx, p.At) {
			break
		}
		f := Fault{Kind: p.Kind, Hold: p.Hold, Start: n.d.now()}
		var err error
		switch p.Kind {
		case faultRedisKill:
			f.Target = "redis"
			n.redis.Kill()
			n.sleepUntil(context.Background(), f.Start+p.Hold) // always heal
			err = n.redis.TryRestart()
		case faultRedisStall:
			f.Target = "redis"
			err = n.redis.Stall(context.Background(), p.Hold)
		case faultReplicaKill:
			r := n.replicas[p.Target]
			f.Target = fmt.Sprintf("r%d", r.idx)
			r.kill()
			n.sleepUntil(context.Background(), f.Start+p.Hold)
			err = n.restart(r)
		}
		f.End = n.d.now()
		if err != nil {
			f.Err = err.Error()
		}
		n.t.Logf("nemesis: %s", f)
		faults = append(faults, f)
		if err != nil {
			return faults, fmt.Errorf("nemesis: healing %s %s: %w", f.Kind, f.Target, err)
		}
	}
	return faults, nil
}

// restart starts a killed replica again, trying a few times: it cannot
// start while Redis does not answer.
func (n *nemesis) restart(r *replica) error {
	var err error
	for range 3 {
		if err = r.start(); err == nil {
			return nil
		}
	}
	return err
}

// sleepUntil waits until at on the history's clock; false if ctx ended
// first.
func (n *nemesis) sleepUntil(ctx context.Context, at time.Duration) bool {
	d := at - n.d.now()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d) // the nemesis's schedule
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// parseFaults reads the -chaos.faults flag: a comma-separated list of
// fault kinds, "all" or "none".
func parseFaults(s string) ([]string, error) {
	switch s {
	case "all":
		return allFaults, nil
	case "none", "":
		return nil, nil
	}
	var kinds []string
	for k := range strings.SplitSeq(s, ",") {
		if !slices.Contains(allFaults, k) {
			return nil, fmt.Errorf("-chaos.faults: unknown fault %q (know %s, all, none)", k, strings.Join(allFaults, ", "))
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}
