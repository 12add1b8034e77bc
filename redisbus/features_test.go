package redisbus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/internal/redistest"
)

// Tests of what only Redis shows of Register, Fresh, Or, Clear and List:
// several processes, what is left in Redis, faults. The conformance suite
// (conformance_test.go) checks their semantics.

// awaitNoKeys polls Redis until no key matches any of the patterns (after
// the prefix and a colon).
func awaitNoKeys(t testing.TB, srv *redistest.Server, patterns ...string) {
	t.Helper()
	rdb := srv.Client()
	var left []string
	require.Eventually(t, func() bool {
		left = nil
		for _, p := range patterns {
			keys, err := rdb.Keys(context.Background(), DefaultPrefix+":"+p).Result()
			if err != nil {
				return false
			}
			left = append(left, keys...)
		}
		return len(left) == 0
	}, 20*time.Second, 5*time.Millisecond, "keys left in Redis: %v", left)
}

// identity asserts S3's identity on the shared totals.
func identity(t testing.TB, s eventcoord.Stats) {
	t.Helper()
	assert.Equal(t, s.Signals, s.Delivered+uint64(s.Retained)+s.Expired+s.Replaced+s.Evicted+s.Cleared, "S3 over Redis: %+v", s)
}

func TestAnyOfWaitsRaceSignalsAcrossProcesses(t *testing.T) { // S3, Or
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	names := []string{"approved", "rejected", "escalated"}
	var (
		mu       sync.Mutex
		returned = map[uint64]string{} // Seq -> name, of events waits returned (several, fanned out)
	)
	stop := make(chan struct{})
	var g errgroup.Group
	for i := range 12 {
		g.Go(func() error {
			bus := []*Bus{a, b}[i%2]
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				first := rand.IntN(len(names))
				opts := []eventcoord.WaitOption{eventcoord.Or(names[(first+1)%3], names[(first+2)%3])}
				if i%3 == 0 {
					opts = append(opts, eventcoord.Fresh())
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rand.IntN(30))*time.Millisecond)
				ev, err := bus.Events().Wait(ctx, names[first], opts...)
				cancel()
				switch {
				case err == nil:
					mu.Lock()
					returned[ev.Seq] = ev.Name
					mu.Unlock()
				case !errors.Is(err, context.DeadlineExceeded):
					return err
				}
			}
		})
	}
	accepted := map[uint64]string{}
	for i := range 300 {
		name := names[i%3]
		r, err := []*Bus{b, a}[i%2].Events().Signal(testCtx(t), name, eventcoord.Data{"i": i})
		require.NoError(t, err)
		accepted[r.Seq] = name
	}
	close(stop)
	require.NoError(t, g.Wait())

	awaitSettled(t, srv)
	awaitNoKeys(t, srv, "w:*", "g:*", "fl:*")
	for seq, name := range returned {
		assert.Equal(t, accepted[seq], name, "Seq %d returned under another name", seq)
	}
	for _, ev := range retainedInRedis(t, srv) {
		_, ok := returned[ev.Seq]
		assert.False(t, ok, "Seq %d returned and retained", ev.Seq)
	}
	s := a.Stats()
	identity(t, s)
	assert.Equal(t, uint64(len(returned)), s.Delivered, "delivered: each returned event once, no give-back artifacts")
	l, err := a.Events().List(testCtx(t), eventcoord.ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, s.Retained, l.Scope.Retained)
	assert.Zero(t, l.Scope.Waiters)
	assert.Len(t, l.Names, s.Retained, "names holding state: only the retained ones")
}

func TestHeldEventAcrossProcesses(t *testing.T) { // Register, S3
	srv := redistest.Start(t)
	a, b, c := newBus(t, srv), newBus(t, srv), newBus(t, srv)

	// Two Registrations in two processes hold one event: one returns it,
	// so the other's Cancel gives nothing back.
	r1, err := a.Events().Register(testCtx(t), "held")
	require.NoError(t, err)
	r2, err := b.Events().Register(testCtx(t), "held")
	require.NoError(t, err)
	rc, err := c.Events().Signal(testCtx(t), "held", eventcoord.Data{"n": 1})
	require.NoError(t, err)
	require.Equal(t, 2, rc.Woken)
	<-r1.Done()
	<-r2.Done()
	ev, err := r1.Wait(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, rc.Seq, ev.Seq)
	r2.Cancel()
	_, err = c.Events().Poll(testCtx(t), "held")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "given back although another Registration returned it")
	awaitNoKeys(t, srv, "fl:*")

	// Both cancel: it is given back once, retained again.
	r1, err = a.Events().Register(testCtx(t), "held")
	require.NoError(t, err)
	r2, err = b.Events().Register(testCtx(t), "held")
	require.NoError(t, err)
	rc, err = c.Events().Signal(testCtx(t), "held", eventcoord.Data{"n": 2})
	require.NoError(t, err)
	require.Equal(t, 2, rc.Woken)
	<-r1.Done()
	<-r2.Done()
	r1.Cancel()
	_, err = c.Events().Poll(testCtx(t), "held")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "given back while another Registration holds it")
	r2.Cancel()
	ev, err = c.Events().Poll(testCtx(t), "held")
	require.NoError(t, err, "given back once both cancelled")
	assert.Equal(t, rc.Seq, ev.Seq)
	awaitNoKeys(t, srv, "fl:*", "w:*")
	s := c.Stats()
	identity(t, s)
	assert.Equal(t, uint64(2), s.Delivered, "the first event by r1, the second by the Poll")
}

func TestFreshWaitLeavesAGivenBackOlderEventAlone(t *testing.T) { // Fresh, S3
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	old, err := a.Events().Signal(testCtx(t), "code", eventcoord.Data{"code": "stale"})
	require.NoError(t, err)
	r, err := a.Events().Register(testCtx(t), "code")
	require.NoError(t, err)
	<-r.Done() // holds the stale code

	got := make(chan eventcoord.Event, 1)
	go func() {
		ev, err := b.Events().Wait(testCtx(t), "code", eventcoord.Fresh())
		assert.NoError(t, err)
		got <- ev
	}()
	awaitRegistered(t, srv, "", "code", 1)
	r.Cancel() // given back: older than the fresh wait, which leaves it alone
	ev, err := a.Events().Poll(testCtx(t), "code")
	require.NoError(t, err, "the stale code given back is retained")
	assert.Equal(t, old.Seq, ev.Seq)
	awaitRegistered(t, srv, "", "code", 1)
	fresh, err := a.Events().Signal(testCtx(t), "code", eventcoord.Data{"code": "fresh"})
	require.NoError(t, err)
	require.Equal(t, 1, fresh.Woken)
	select {
	case ev := <-got:
		assert.Equal(t, fresh.Seq, ev.Seq)
	case <-time.After(10 * time.Second):
		t.Fatal("the fresh wait never returned")
	}
	identity(t, a.Stats())
}

func TestListAndClearAcrossProcesses(t *testing.T) { // List, Clear, S8
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g errgroup.Group
	for _, bus := range []*Bus{a, b} {
		g.Go(func() error {
			_, err := bus.Scope("t").Wait(ctx, "w", eventcoord.Or("x"))
			return err
		})
	}
	awaitRegistered(t, srv, "t", "w", 2)
	awaitRegistered(t, srv, "t", "x", 2)
	_, err := b.Scope("t").Signal(testCtx(t), "r", eventcoord.Data{"v": "ab"})
	require.NoError(t, err)
	_, err = b.Scope("other").Signal(testCtx(t), "q", eventcoord.Data{})
	require.NoError(t, err)

	l, err := a.Scope("t").List(testCtx(t), eventcoord.ListOptions{Limit: 2})
	require.NoError(t, err)
	require.Len(t, l.Names, 2)
	assert.Equal(t, "r", l.Names[0].Name)
	assert.Equal(t, int64(len(`{"v":"ab"}`)), l.Names[0].Size)
	assert.Equal(t, eventcoord.NameState{Name: "w", Waiters: 2}, l.Names[1], "both processes' waits")
	assert.Equal(t, eventcoord.ScopeStats{Names: 3, Waiters: 4, Retained: 1, RetainedBytes: 10}, l.Scope)
	l, err = a.Scope("t").List(testCtx(t), eventcoord.ListOptions{After: l.Next})
	require.NoError(t, err)
	assert.Equal(t, []eventcoord.NameState{{Name: "x", Waiters: 2}}, l.Names)
	assert.Empty(t, l.Next)

	ok, err := a.Scope("t").Clear(testCtx(t), "r")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = b.Scope("t").Clear(testCtx(t), "r")
	require.NoError(t, err)
	assert.False(t, ok, "cleared once")
	cancel()
	require.ErrorIs(t, g.Wait(), context.Canceled)
	awaitNoKeys(t, srv, "w:*", "n:"+scopeKey("t"))
	s := a.Stats()
	assert.Equal(t, uint64(1), s.Cleared)
	identity(t, s)
}

func TestProcessKilledHoldingAnAnyOfClaim(t *testing.T) { // Or under faults
	srv := redistest.Start(t)
	b := newBus(t, srv, WithRedeliver(200*time.Millisecond))
	p := startChild(t, srv, "approved,rejected")
	// Frozen, the child's socket still takes the message: the delivery
	// claims its wait, and the child never answers.
	require.NoError(t, p.Signal(syscall.SIGSTOP))
	ra, err := b.Events().Signal(testCtx(t), "approved", eventcoord.Data{"by": "alice"})
	require.NoError(t, err)
	require.Equal(t, 1, ra.Woken)
	kill(t, p)

	// The other name's signal finds the wait claimed: as if it had never
	// been there.
	rr, err := b.Events().Signal(testCtx(t), "rejected", eventcoord.Data{"by": "bob"})
	require.NoError(t, err)
	assert.Equal(t, eventcoord.Receipt{Seq: rr.Seq, Retained: true}, rr)

	// The unanswered delivery is offered again: retained, its claim
	// released; nothing of the dead process is left once its lease ends.
	ev, err := b.Events().Wait(testCtx(t), "approved")
	require.NoError(t, err)
	assert.Equal(t, ra.Seq, ev.Seq)
	ev, err = b.Events().Wait(testCtx(t), "rejected")
	require.NoError(t, err)
	assert.Equal(t, rr.Seq, ev.Seq)
	awaitSettled(t, srv)
	awaitNoKeys(t, srv, "w:*", "g:*", "fl:*", "n:*")
	s := b.Stats()
	assert.Equal(t, uint64(2), s.Delivered)
	identity(t, s)
}

func TestHeldEventOfADeadProcessExpiresDelivered(t *testing.T) { // Register under faults
	srv := redistest.Start(t)
	b := newBus(t, srv)
	p := startChild(t, srv, "held", childHoldEnv+"=1")
	r, err := b.Events().Signal(testCtx(t), "held", eventcoord.Data{})
	require.NoError(t, err)
	require.Equal(t, 1, r.Woken)
	awaitSettled(t, srv) // answered as held: no deadline any more
	rdb := srv.Client()
	require.Equal(t, int64(1), rdb.Exists(context.Background(), DefaultPrefix+":fl:"+"1").Val(), "the held delivery's record")
	kill(t, p)
	// Nobody renews the hold: it ends with the lease, delivered.
	awaitNoKeys(t, srv, "fl:*", "w:*", "n:*")
	_, err = b.Events().Poll(testCtx(t), "held")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent)
	s := b.Stats()
	assert.Equal(t, uint64(1), s.Delivered)
	identity(t, s)
}

func TestListForgetsADeadProcessesNames(t *testing.T) { // List under faults
	srv := redistest.Start(t)
	b := newBus(t, srv)
	kill(t, startChild(t, srv, "ghost"))
	l, err := b.Events().List(testCtx(t), eventcoord.ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []eventcoord.NameState{{Name: "ghost", Waiters: 1}}, l.Names, "within the lease")
	require.Eventually(t, func() bool {
		l, err = b.Events().List(testCtx(t), eventcoord.ListOptions{})
		return err == nil && len(l.Names) == 0 && l.Scope == eventcoord.ScopeStats{}
	}, 20*time.Second, 10*time.Millisecond, "the dead process's name outlives its lease: %+v", l)
	awaitNoKeys(t, srv, "n:*")
}

func TestRegistrationsAndAnyOfWaitsOutliveARedisRestart(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{Fsync: "always"})
	a, b := newBus(t, srv), newBus(t, srv)
	r, err := a.Events().Register(testCtx(t), "reg")
	require.NoError(t, err)
	fresh, err := a.Events().Register(testCtx(t), "fresh", eventcoord.Fresh())
	require.NoError(t, err)
	anyOf := make(chan eventcoord.Event, 1)
	go func() {
		ev, err := waitAnyThroughRestart(testCtx(t), a, "x", eventcoord.Or("y"))
		assert.NoError(t, err)
		anyOf <- ev
	}()
	awaitRegistered(t, srv, "", "y", 1)

	srv.Restart()
	for _, name := range []string{"reg", "fresh", "x", "y"} {
		awaitRegistered(t, srv, "", name, 1) // registered again
	}
	var rr, rf, ry eventcoord.Receipt
	require.Eventually(t, func() bool {
		var err1, err2, err3 error
		rr, err1 = b.Events().Signal(testCtx(t), "reg", eventcoord.Data{})
		rf, err2 = b.Events().Signal(testCtx(t), "fresh", eventcoord.Data{})
		ry, err3 = b.Events().Signal(testCtx(t), "y", eventcoord.Data{})
		return err1 == nil && err2 == nil && err3 == nil
	}, 10*time.Second, 10*time.Millisecond)
	ev, err := r.Wait(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, rr.Seq, ev.Seq)
	ev, err = fresh.Wait(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, rf.Seq, ev.Seq)
	select {
	case ev := <-anyOf:
		assert.Equal(t, ry.Seq, ev.Seq)
		assert.Equal(t, "y", ev.Name)
	case <-time.After(10 * time.Second):
		t.Fatal("the any-of wait never got the signal sent after the restart")
	}
	rx, err := b.Events().Signal(testCtx(t), "x", eventcoord.Data{})
	require.NoError(t, err)
	assert.Equal(t, eventcoord.Receipt{Seq: rx.Seq, Retained: true}, rx, "the served any-of wait left its other name")
}

// waitAnyThroughRestart is waitThroughRestart with options.
func waitAnyThroughRestart(ctx context.Context, b *Bus, name string, opts ...eventcoord.WaitOption) (eventcoord.Event, error) {
	for {
		ev, err := b.Events().Wait(ctx, name, opts...)
		if !errors.Is(err, eventcoord.ErrUnavailable) {
			return ev, err
		}
		select { // a client's backoff while Redis restarts
		case <-ctx.Done():
			return ev, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestLeasesOfLiveProcessesAreRenewed(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBus(t, srv, withLease(3*time.Second)), newBus(t, srv)
	r, err := a.Scope("s").Register(testCtx(t), "held")
	require.NoError(t, err)
	_, err = b.Scope("s").Signal(testCtx(t), "held", eventcoord.Data{})
	require.NoError(t, err)
	<-r.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := a.Scope("s").Wait(ctx, "x", eventcoord.Or("y"))
		done <- err
	}()
	awaitRegistered(t, srv, "s", "y", 1)
	rdb := srv.Client()
	held, err := rdb.Keys(context.Background(), DefaultPrefix+":fl:*").Result()
	require.NoError(t, err)
	require.Len(t, held, 1, "the held delivery")
	keys := append(held, DefaultPrefix+":w:"+a.key("s", "x"), DefaultPrefix+":w:"+a.key("s", "y"))
	// The scope's name index lives longer than a lease from the start, and
	// renewals keep it at least that long.
	indexes := []string{DefaultPrefix + ":n:" + scopeKey("s")}

	// Each key's TTL goes up twice: renewed, so it outlives the lease.
	last, ups := map[string]time.Duration{}, map[string]int{}
	require.Eventually(t, func() bool {
		for _, k := range indexes {
			ttl, err := rdb.PTTL(context.Background(), k).Result()
			require.NoError(t, err)
			require.Greater(t, ttl, time.Second, k)
		}
		for _, k := range keys {
			ttl, err := rdb.PTTL(context.Background(), k).Result()
			require.NoError(t, err)
			require.Positive(t, ttl, "%s expired", k)
			if ttl > last[k]+100*time.Millisecond && last[k] != 0 {
				ups[k]++
			}
			last[k] = ttl
		}
		for _, k := range keys {
			if ups[k] < 2 {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "renewals seen: %v", ups)
	_, err = r.Wait(testCtx(t))
	require.NoError(t, err, "the held event, after the lease")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	awaitNoKeys(t, srv, "fl:*", "w:*", "g:*")
}

func TestListCountsTheWaitersOfALargeScope(t *testing.T) { // List
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	const retained = 1200 // more names than one count script looks at
	for i := range retained {
		_, err := a.Scope("big").Signal(testCtx(t), fmt.Sprintf("n%04d", i), eventcoord.Data{})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g errgroup.Group
	for _, name := range []string{"a", "z1", "z2"} { // before and after the retained names
		g.Go(func() error {
			_, err := b.Scope("big").Wait(ctx, name, eventcoord.Fresh())
			return err
		})
	}
	awaitRegistered(t, srv, "big", "z2", 1)
	awaitRegistered(t, srv, "big", "a", 1)
	awaitRegistered(t, srv, "big", "z1", 1)
	l, err := a.Scope("big").List(testCtx(t), eventcoord.ListOptions{Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, []eventcoord.NameState{{Name: "a", Waiters: 1}}, l.Names)
	assert.Equal(t, "a", l.Next)
	assert.Equal(t, eventcoord.ScopeStats{Names: retained + 3, Waiters: 3, Retained: retained, RetainedBytes: 2 * retained}, l.Scope)
	cancel()
	require.ErrorIs(t, g.Wait(), context.Canceled)
}

func TestAPausedProcessesRegistrationRegistersAgain(t *testing.T) { // Register, S3: no duplicate
	srv := redistest.Start(t)
	b := newBus(t, srv, WithRedeliver(200*time.Millisecond))
	p := startChild(t, srv, "paused", childHoldEnv+"=1")
	reofferedPastAPause(t, b, p)

	// Resumed, the child answers too late: its Registration must not hold
	// the event; it registers again, and the next signal reaches it.
	require.NoError(t, p.Signal(syscall.SIGCONT))
	awaitRegistered(t, srv, "", "paused", 1)
	r2, err := b.Events().Signal(testCtx(t), "paused", eventcoord.Data{"u": "twice"})
	require.NoError(t, err)
	assert.Equal(t, 1, r2.Woken)
	awaitSettled(t, srv) // answered, as held by the child's Registration
	s := b.Stats()
	assert.Equal(t, uint64(2), s.Delivered)
	identity(t, s)
}
