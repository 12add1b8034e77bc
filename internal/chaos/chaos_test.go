package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/eventcoord/eventcoord/internal/redistest"
)

var (
	seedFlag     = flag.Uint64("chaos.seed", 0, "seed of the clients' choices and the fault schedule (0: random, printed)")
	durationFlag = flag.Duration("chaos.duration", 45*time.Second, "how long clients send traffic and the nemesis injects faults")
	settleFlag   = flag.Duration("chaos.settle", 15*time.Second, "the quiet period after traffic, before Redis is inspected and drained")
	slackFlag    = flag.Duration("chaos.slack", 2*time.Second, "how long past its timeout a wait may take to answer")
	faultsFlag   = flag.String("chaos.faults", "all", "faults to inject: all, none, or a comma-separated list of "+strings.Join(allFaults, ", "))
	clientsFlag  = flag.Int("chaos.clients", 16, "concurrent clients")
	replicasFlag = flag.Int("chaos.replicas", 3, "eventd processes")
	excuseFlag   = flag.Bool("chaos.excuse-killed-answers", false, "accept a duplicate whose first delivery Redis was killed during (an answer of unknown fate taken as given)")
	outFlag      = flag.String("chaos.out", "", "write the history as JSON to this file (on failure it is written to the temporary directory anyway)")
	recheckFlag  = flag.String("chaos.recheck", "", "TestRecheck checks the history in this JSON file (from -chaos.out) again")
)

// leftoverPatterns are the keys that must be gone after the quiet period:
// waiter registrations, in-flight and held deliveries (of the protocol and
// of the one before it), and any-of waits' claims.
var leftoverPatterns = []string{"eventcoord:w:*", "eventcoord:fl:*", "eventcoord:pend:*", "eventcoord:g:*"}

// leaseWait is how much longer than the quiet period leftovers may take to
// go: what a killed replica left (a registration in a hash nobody
// signals, a delivery its Registration held) lives until its lease (30 s)
// runs out.
const leaseWait = 35 * time.Second

// publishIdle is how long PUBLISH must stay unused at the end of the quiet
// period.
const publishIdle = 2 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestChaos runs replicas of eventd on one redis-server, clients that
// signal and wait at random, and a nemesis; then checks the history. See
// the package doc for what it checks and how to run it.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: not under -short")
	}
	kinds, err := parseFaults(*faultsFlag)
	require.NoError(t, err)
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	duration, settle := *durationFlag, *settleFlag
	maxStall := 3 * time.Second
	if duration >= 5*time.Minute {
		maxStall = 8 * time.Second
	}
	t.Logf("chaos: seed %d (replay with -chaos.seed %d), duration %v, settle %v, slack %v, faults %v, %d clients, %d replicas",
		seed, seed, duration, settle, *slackFlag, kinds, *clientsFlag, *replicasFlag)

	srv := redistest.StartWith(t, redistest.Options{Fsync: "always", Debug: true})
	rdb := srv.Client()
	replicas := startReplicas(t, buildEventd(t), srv.URL(), *replicasFlag)
	urls := make([]string, len(replicas))
	for i, r := range replicas {
		urls[i] = r.url
	}
	d := newDriver(urls, *slackFlag)
	t.Cleanup(d.hc.CloseIdleConnections)

	// Traffic and faults.
	sched := schedule(rand.New(rand.NewPCG(seed, 1<<32)), duration, len(replicas), kinds, maxStall)
	n := &nemesis{t: t, d: d, redis: srv, replicas: replicas}
	stop := d.now() + duration
	perClient := make([][]Op, *clientsFlag)
	var faults []Fault
	g, ctx := errgroup.WithContext(context.Background())
	for i := range perClient {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		g.Go(func() error { perClient[i] = d.client(ctx, i, rng, stop); return nil })
	}
	g.Go(func() (err error) { faults, err = n.run(ctx, sched); return err })
	if err := g.Wait(); err != nil {
		t.Error(err)
	}
	h := &History{Faults: faults}
	for _, ops := range perClient {
		h.Ops = append(h.Ops, ops...)
	}
	t.Logf("chaos: traffic ended at %.1fs: %d operations, %d faults", d.now().Seconds(), len(h.Ops), len(faults))

	// The quiet period, then Redis's state, eventd's counters and the drain.
	h.Quiet = observeQuiet(rdb, settle)
	live := liveReplica(t, d, replicas, seed)
	h.Counters, err = readCounters(d.hc, live.url)
	if err != nil {
		t.Errorf("reading the counters of r%d: %v", live.idx, err)
	}
	h.Ops = append(h.Ops, drain(d, live.idx)...)
	slices.SortStableFunc(h.Ops, byStart)

	v := Check(h, config())
	t.Logf("chaos: seed %d\n%s", seed, v.Summary())
	out := *outFlag
	if out == "" && !v.OK() {
		out = filepath.Join(os.TempDir(), fmt.Sprintf("eventcoord-chaos-%d.json", seed))
	}
	if out != "" {
		if err := writeHistory(out, h); err != nil {
			t.Errorf("writing the history: %v", err)
		} else {
			t.Logf("chaos: history written to %s (check it again with -run TestRecheck -chaos.recheck %s)", out, out)
		}
	}
	if !v.OK() {
		for _, r := range replicas {
			t.Logf("last lines of r%d's log:\n%s", r.idx, r.tail(15))
			if b, err := os.ReadFile(r.log); err == nil && os.WriteFile(fmt.Sprintf("%s.r%d.log", out, r.idx), b, 0o644) == nil {
				t.Logf("r%d's whole log: %s.r%d.log", r.idx, out, r.idx)
			}
		}
		t.Errorf("chaos: the history breaks the invariants; replay with -chaos.seed %d", seed)
	}
}

// TestRecheck checks a history written by TestChaos again (for a changed
// checker, or to read it at leisure). It runs only with -chaos.recheck.
func TestRecheck(t *testing.T) {
	if *recheckFlag == "" {
		t.Skip("no -chaos.recheck FILE")
	}
	b, err := os.ReadFile(*recheckFlag)
	require.NoError(t, err)
	var h History
	require.NoError(t, json.Unmarshal(b, &h))
	v := Check(&h, config())
	t.Log(v.Summary())
	if !v.OK() {
		t.Error("chaos: the history breaks the invariants")
	}
}

// config is the checker's configuration from the flags.
func config() Config { return Config{Slack: *slackFlag, ExcuseKilledAnswers: *excuseFlag} }

func writeHistory(path string, h *History) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// observeQuiet watches Redis, with no client traffic, for settle, then
// counts the keys left behind and the PUBLISH calls of the last
// publishIdle.
func observeQuiet(rdb *redis.Client, settle time.Duration) Quiet {
	q := Quiet{Leftover: map[string]int{}, IdleFor: min(publishIdle, settle)}
	ctx := context.Background()
	type sample struct {
		at    time.Time
		calls int64
	}
	var samples []sample
	end := time.Now().Add(settle)
	tick := time.NewTicker(250 * time.Millisecond) // sampling over the quiet period
	defer tick.Stop()
	for {
		calls, err := publishCalls(ctx, rdb)
		if err != nil {
			q.Err = err.Error()
		} else {
			samples = append(samples, sample{time.Now(), calls})
		}
		if !time.Now().Before(end) {
			break
		}
		<-tick.C
	}
	if len(samples) == 0 {
		return q
	}
	last := samples[len(samples)-1]
	for _, s := range samples {
		if !s.at.After(last.at.Add(-q.IdleFor)) {
			q.Publishes = last.calls - s.calls
		}
	}
	quiet := time.Now()
	for {
		left := 0
		q.Samples = nil
		for _, p := range leftoverPatterns {
			var found []string
			iter := rdb.Scan(ctx, 0, p, 1000).Iterator()
			for iter.Next(ctx) {
				found = append(found, iter.Val())
			}
			if err := iter.Err(); err != nil {
				q.Err = err.Error()
			}
			q.Leftover[p] = len(found)
			left += len(found)
			for _, k := range found[:min(len(found), 5)] {
				q.Samples = append(q.Samples, describeKey(ctx, rdb, k))
			}
		}
		q.Extra = time.Since(quiet)
		if left == 0 || q.Extra > leaseWait {
			break
		}
		if q.Lingered == nil {
			q.Lingered = q.Samples
		}
		<-tick.C // leftovers within their lease: look again
	}
	q.Keys = map[string]int{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for n := 0; n < 100_000 && iter.Next(ctx); n++ {
		parts := strings.SplitN(iter.Val(), ":", 3)
		q.Keys[strings.Join(parts[:min(len(parts), 2)], ":")]++
	}
	if err := iter.Err(); err != nil {
		q.Err = err.Error()
	}
	return q
}

// publishCalls reads how many PUBLISH calls Redis has run since it started.
func publishCalls(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_publish:calls="); ok {
			n, _, _ := strings.Cut(rest, ",")
			return strconv.ParseInt(n, 10, 64)
		}
	}
	return 0, nil // none yet
}

// describeKey returns a key with its type, TTL and a glimpse of its value.
func describeKey(ctx context.Context, rdb *redis.Client, k string) string {
	typ := rdb.Type(ctx, k).Val()
	var val string
	switch typ {
	case "hash":
		val = fmt.Sprint(rdb.HGetAll(ctx, k).Val())
	case "string":
		val = rdb.Get(ctx, k).Val()
	case "set":
		val = fmt.Sprint(rdb.SMembers(ctx, k).Val())
	case "zset":
		val = fmt.Sprint(rdb.ZRangeWithScores(ctx, k, 0, 10).Val())
	}
	if len(val) > 120 {
		val = val[:120] + "…"
	}
	return fmt.Sprintf("%s (%s, ttl %v) %s", k, typ, rdb.PTTL(ctx, k).Val(), val)
}

// liveReplica picks, by the seed, a replica that answers /healthz.
func liveReplica(t *testing.T, d *driver, replicas []*replica, seed uint64) *replica {
	t.Helper()
	first := int(seed % uint64(len(replicas)))
	for i := range replicas {
		r := replicas[(first+i)%len(replicas)]
		if r.running() && healthy(context.Background(), d.hc, r) {
			return r
		}
	}
	t.Fatal("chaos: no replica is healthy after the quiet period")
	return nil
}

// drainTimeout is the final drain's timeoutMs: enough to find a retained
// event, which returns at once.
const drainTimeout = 300 * time.Millisecond

// drain waits once on every key and name on one replica, concurrently, and
// returns those waits; what they return was still retained.
func drain(d *driver, replica int) []Op {
	ops := make([]Op, len(keys)*len(names))
	var g errgroup.Group
	for i := range ops {
		g.Go(func() error {
			ops[i] = d.waitOp(Op{Kind: Wait, Client: -1, Replica: replica, Key: keys[i/len(names)], Name: names[i%len(names)],
				Timeout: drainTimeout, Final: true}, 0)
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error
	return ops
}

// readCounters reads eventd's outcome counters from /metrics.
func readCounters(hc *http.Client, base string) (Counters, error) {
	var c Counters
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return c, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("/metrics: %s", resp.Status)
	}
	fields := map[string]*uint64{
		`eventcoord_signal_outcomes_total{outcome="replaced"}`: &c.Replaced,
		`eventcoord_signal_outcomes_total{outcome="expired"}`:  &c.Expired,
		`eventcoord_signal_outcomes_total{outcome="evicted"}`:  &c.Evicted,
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if p := fields[name]; ok && p != nil {
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return c, fmt.Errorf("/metrics: %s: %w", name, err)
			}
			*p = uint64(f)
		}
	}
	return c, sc.Err()
}
