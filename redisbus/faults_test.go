package redisbus

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/internal/redistest"
)

// A child process is this test binary run with childEnv set: a process
// with one waiter that the test can freeze and kill, as a crash would. Its
// names are childNameEnv split at commas (an any-of wait for several);
// with childHoldEnv set it registers, takes its event and holds it.
const (
	childEnv     = "REDISBUS_TEST_CHILD_REDIS"
	childNameEnv = "REDISBUS_TEST_CHILD_NAME"
	childHoldEnv = "REDISBUS_TEST_CHILD_HOLD"
	childLease   = time.Second
	// childCalls bounds the child's Redis calls. It outlasts any pause a
	// test gives the child: a test sees the child's waiter registered in
	// Redis, not the child reading that answer, so a pause can fall in
	// between, and with the default 2 s bound the call would fail on
	// resuming and the child's wait end, unavailable.
	childCalls = time.Minute
)

// withLease sets the lease, and a janitor tick short enough to renew it:
// the janitor renews at a tick once a third of the lease has passed, so
// with the default 1 s tick a 1 s lease (childLease) was never renewed in
// time and a live child's registration left Redis a second after it came.
func withLease(d time.Duration) Option {
	return optionFunc(func(o *options) { o.lease, o.tick = d, min(o.tick, d/4) })
}

// child waits on names until the event arrives or it is killed; holding,
// it registers and, once its event is there, holds it until killed.
func child(addr, names string, hold bool) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: childCalls, WriteTimeout: childCalls})
	bus, err := New(context.Background(), rdb, withLease(childLease), WithTimeout(childCalls))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	first, more, _ := strings.Cut(names, ",")
	var opts []eventcoord.WaitOption
	if more != "" {
		opts = append(opts, eventcoord.Or(strings.Split(more, ",")...))
	}
	if hold {
		r, err := bus.Events().Register(context.Background(), first, opts...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: Register:", err)
			os.Exit(1)
		}
		<-r.Done()
		select {} // holds the event until killed
	}
	_, err = bus.Events().Wait(context.Background(), first, opts...)
	fmt.Fprintln(os.Stderr, "child: Wait returned", err)
	os.Exit(3)
}

// startChild starts a child process waiting on names (see child) and
// returns once its waiter is registered in Redis on each of them.
func startChild(t *testing.T, srv *redistest.Server, names string, env ...string) *os.Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+srv.Addr, childNameEnv+"="+names), env...)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var once sync.Once
	kill := func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(kill)
	for name := range strings.SplitSeq(names, ",") {
		awaitRegistered(t, srv, "", name, 1)
	}
	return cmd.Process
}

func kill(t *testing.T, p *os.Process) {
	t.Helper()
	require.NoError(t, p.Kill())
	_, _ = p.Wait()
}

func TestDeadProcessIsNoDelivery(t *testing.T) { // S2, S3
	srv := redistest.Start(t)
	b := newBus(t, srv)
	kill(t, startChild(t, srv, "orphan"))

	// Its registration is still in Redis, but a PUBLISH that reaches no
	// subscriber is no delivery: the signal is retained.
	r, err := b.Events().Signal(testCtx(t), "orphan", eventcoord.Data{"k": 1})
	require.NoError(t, err)
	assert.Equal(t, 0, r.Woken)
	assert.True(t, r.Retained)
	awaitRegistered(t, srv, "", "orphan", 0)
	ev, err := b.Events().Wait(testCtx(t), "orphan")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
}

func TestDeadProcessRegistrationsExpire(t *testing.T) {
	srv := redistest.Start(t)
	kill(t, startChild(t, srv, "used-once"))
	rdb := srv.Client()
	require.Eventually(t, func() bool {
		return rdb.Exists(context.Background(), DefaultPrefix+":w:"+(&Bus{}).key("", "used-once")).Val() == 0
	}, 20*time.Second, 10*time.Millisecond, "the dead process's registration outlives its lease")
}

func TestDeliveryToAProcessThatDiesIsOfferedAgain(t *testing.T) { // S3
	srv := redistest.Start(t)
	b := newBus(t, srv, WithRedeliver(200*time.Millisecond))
	p := startChild(t, srv, "frozen")
	// Frozen, the child's socket still takes the message: Redis counts a
	// delivery, which the child never answers.
	require.NoError(t, p.Signal(syscall.SIGSTOP))
	r, err := b.Events().Signal(testCtx(t), "frozen", eventcoord.Data{"code": "42"})
	require.NoError(t, err)
	require.Equal(t, 1, r.Woken)
	kill(t, p)

	ev, err := b.Events().Wait(testCtx(t), "frozen")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, "42", ev.Data["code"])
	awaitSettled(t, srv)
}

func TestWaitAndSignalEndInTimeWhileRedisStalls(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{Debug: true})
	b := newBus(t, srv, WithTimeout(300*time.Millisecond))
	stalled := make(chan error, 1)
	go func() { stalled <- srv.Stall(context.Background(), 5*time.Second) }()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	require.Eventually(t, func() bool { // stalled: PING goes unanswered
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		return rdb.Ping(ctx).Err() != nil
	}, 10*time.Second, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := b.Events().Wait(ctx, "during-stall")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = b.Events().Signal(context.Background(), "during-stall", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable)
	select {
	case <-stalled:
		t.Fatal("the stall ended before the wait and the signal did: they waited for Redis")
	default:
	}
	require.NoError(t, <-stalled)

	// Once Redis answers, the waiter that left leaves no registration.
	awaitRegistered(t, srv, "", "during-stall", 0)
	awaitSettled(t, srv)
}

func TestRedisRestartDeliversOrRetainsEveryTime(t *testing.T) { // S1, S3
	for _, o := range []redistest.Options{{Fsync: "always"}, {Fsync: "everysec"}, {Ephemeral: true}} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) { restartDeliversOrRetains(t, o) })
	}
}

// restartDeliversOrRetains has a waiter blocked on one process while Redis
// is SIGKILLed and restarted, and another process retry a signal every
// 5 ms: the waiter gets the first one accepted, ten times over.
func restartDeliversOrRetains(t *testing.T, o redistest.Options) {
	srv := redistest.StartWith(t, o)
	a, b := newBus(t, srv), newBus(t, srv)
	for i := range 10 {
		name := fmt.Sprint("restart-", i)
		got := make(chan error, 1)
		var ev eventcoord.Event
		go func() {
			var err error
			ev, err = waitThroughRestart(testCtx(t), a, name)
			got <- err
		}()
		awaitRegistered(t, srv, "", name, 1)
		srv.Restart()
		// Signals retried every 5 ms until one is accepted; each carries
		// the same data, so whichever Redis ran is the one to get.
		require.Eventually(t, func() bool {
			_, err := b.Events().Signal(testCtx(t), name, eventcoord.Data{"i": i})
			return err == nil
		}, 20*time.Second, 5*time.Millisecond)
		select {
		case err := <-got:
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprint(i), fmt.Sprint(ev.Data["i"]), "run %d", i)
		case <-time.After(20 * time.Second):
			t.Fatalf("run %d: the waiter never got the signal accepted after the restart", i)
		}
	}
}

func TestLeftWaitersLeaveNothingInRedis(t *testing.T) { // S3, S4
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	names := []string{"n0", "n1", "n2", "n3"}
	stop := make(chan struct{})
	var g errgroup.Group
	for i := range 40 {
		g.Go(func() error {
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%10)*time.Millisecond)
				_, err := a.Events().Wait(ctx, names[i%len(names)])
				cancel()
				if err != nil && ctx.Err() == nil {
					return err
				}
			}
		})
	}
	for i := range 400 {
		_, err := b.Events().Signal(testCtx(t), names[i%len(names)], eventcoord.Data{"i": i})
		require.NoError(t, err)
	}
	close(stop)
	require.NoError(t, g.Wait())

	awaitSettled(t, srv)
	rdb := srv.Client()
	require.Eventually(t, func() bool {
		keys, err := rdb.Keys(context.Background(), DefaultPrefix+":w:*").Result()
		return err == nil && len(keys) == 0
	}, 20*time.Second, time.Millisecond, "registrations of waiters that left stay in Redis")
	assert.Equal(t, 0, a.Stats().Waiters)
	s := b.Stats()
	assert.Equal(t, uint64(400), s.Signals)
	assert.Equal(t, s.Signals, s.Delivered+uint64(s.Retained)+s.Expired+s.Replaced+s.Evicted, "S3 over Redis: %+v", s)
}

func TestRetainedEventsAreBoundedPerScope(t *testing.T) { // S10
	srv := redistest.Start(t)
	b := newBus(t, srv, WithMaxRetained(30), WithMaxRetainedPerScope(20), WithMaxRetainedBytesPerScope(64<<10))
	ctx := testCtx(t)
	for i := range 5 {
		_, err := b.Scope("quiet").Signal(ctx, fmt.Sprint("q", i), eventcoord.Data{"i": i})
		require.NoError(t, err)
	}
	for i := range 100 { // a flood: only its own oldest are evicted
		_, err := b.Scope("flood").Signal(ctx, fmt.Sprint("f", i), eventcoord.Data{"i": i})
		require.NoError(t, err)
	}
	s := b.Stats()
	assert.Equal(t, 25, s.Retained)
	assert.Equal(t, uint64(80), s.Evicted)
	for i := range 5 {
		ev, err := b.Scope("quiet").Wait(ctx, fmt.Sprint("q", i))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), fmt.Sprint(ev.Data["i"]))
	}
	ev, err := b.Scope("flood").Wait(ctx, "f99")
	require.NoError(t, err, "the newest of the flood is kept")
	assert.Equal(t, "99", fmt.Sprint(ev.Data["i"]))

	// Bytes: 8 KiB events against a 64 KiB scope bound keep at most 7 or 8.
	big := string(make([]byte, 8<<10))
	for i := range 20 {
		_, err := b.Scope("big").Signal(ctx, fmt.Sprint("b", i), eventcoord.Data{"pad": big})
		require.NoError(t, err)
	}
	n, err := srv.Client().ZScore(ctx, DefaultPrefix+":rsb", scopeKey("big")).Result()
	require.NoError(t, err)
	assert.LessOrEqual(t, n, float64(64<<10))
	assert.Greater(t, n, float64(48<<10))

	// Overall: the scope holding the most pays, not the quiet one.
	for i := range 5 {
		_, err := b.Scope("quiet").Signal(ctx, fmt.Sprint("q", i), eventcoord.Data{"i": i})
		require.NoError(t, err)
	}
	for i := range 40 {
		_, err := b.Scope("flood").Signal(ctx, fmt.Sprint("g", i), eventcoord.Data{"i": i})
		require.NoError(t, err)
	}
	for i := range 5 {
		_, err := b.Scope("quiet").Wait(ctx, fmt.Sprint("q", i))
		require.NoError(t, err, "the quiet scope lost q%d to the flood", i)
	}
	s = b.Stats()
	assert.Equal(t, s.Signals, s.Delivered+uint64(s.Retained)+s.Expired+s.Replaced+s.Evicted, "S3 over Redis: %+v", s)
}

func TestExpiriesAreCountedInScopesNobodyTouchesAgain(t *testing.T) { // S2, S3
	srv := redistest.Start(t)
	b := newBus(t, srv, WithRetention(200*time.Millisecond), WithMaxRetainedPerScope(5))
	for i := range 5 {
		_, err := b.Scope("idle").Signal(testCtx(t), fmt.Sprint("m", i), eventcoord.Data{"i": i})
		require.NoError(t, err)
	}
	// Nothing touches the scope again: the janitor counts its expiries.
	require.Eventually(t, func() bool {
		s := b.Stats()
		return s.Expired == 5 && s.Retained == 0 && s.RetainedBytes == 0
	}, 20*time.Second, 10*time.Millisecond, "expiries of an idle scope are never counted: %+v", b.Stats())

	// And they no longer count against the scope's bound.
	for i := range 5 {
		r, err := b.Scope("idle").Signal(testCtx(t), fmt.Sprint("n", i), eventcoord.Data{"i": i})
		require.NoError(t, err)
		assert.True(t, r.Retained, "n%d evicted by expired events", i)
	}
	s := b.Stats()
	assert.Zero(t, s.Evicted)
	assert.Equal(t, s.Signals, s.Delivered+uint64(s.Retained)+s.Expired+s.Replaced+s.Evicted, "S3 over Redis: %+v", s)
}

func TestOverallBoundHoldsWhenAScopesIndexIsGone(t *testing.T) { // S10
	srv := redistest.Start(t)
	b := newBus(t, srv, WithMaxRetained(10))
	ctx := testCtx(t)
	for i := range 8 {
		_, err := b.Scope("lost").Signal(ctx, fmt.Sprint("l", i), eventcoord.Data{})
		require.NoError(t, err)
	}
	// The scope's events and index vanish behind the counts' back (as when
	// the index outlived no janitor): its counts must not hold the bound.
	rdb := srv.Client()
	keys, err := rdb.Keys(ctx, DefaultPrefix+":r:*").Result()
	require.NoError(t, err)
	require.NoError(t, rdb.Del(ctx, append(keys, DefaultPrefix+":ri:"+scopeKey("lost"), DefaultPrefix+":rz:"+scopeKey("lost"))...).Err())
	for i := range 10 {
		r, err := b.Scope("busy").Signal(ctx, fmt.Sprint("b", i), eventcoord.Data{})
		require.NoError(t, err)
		assert.True(t, r.Retained, "b%d", i)
	}
	r, err := b.Scope("busy").Signal(ctx, "one-more", eventcoord.Data{})
	require.NoError(t, err)
	assert.True(t, r.Retained)
	keys, err = rdb.Keys(ctx, DefaultPrefix+":r:*").Result()
	require.NoError(t, err)
	assert.Len(t, keys, 10, "the overall bound holds")
	assert.Equal(t, uint64(1), b.Stats().EvictedBy.Count)
}

// reofferedPastAPause pauses p, a child waiting on "paused", signals it
// from b, and takes here the event that, unanswered by p, is offered again
// and retained. It returns the signal's Receipt.
func reofferedPastAPause(t *testing.T, b *Bus, p *os.Process) eventcoord.Receipt {
	t.Helper()
	require.NoError(t, p.Signal(syscall.SIGSTOP))
	r, err := b.Events().Signal(testCtx(t), "paused", eventcoord.Data{"u": "once"})
	require.NoError(t, err)
	require.Equal(t, 1, r.Woken)
	ev, err := b.Events().Wait(testCtx(t), "paused")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq, "the event offered again")
	return r
}

func TestAPausedProcessDoesNotDeliverWhatWasOfferedAgain(t *testing.T) { // S3: no duplicate
	srv := redistest.Start(t)
	b := newBus(t, srv, WithRedeliver(200*time.Millisecond))
	var exited atomic.Bool
	p := startChild(t, srv, "paused")
	go func() { _, _ = p.Wait(); exited.Store(true) }()
	reofferedPastAPause(t, b, p)

	// Resumed, the process answers too late: its waiter must not get the
	// event too; it registers again and goes on waiting.
	require.NoError(t, p.Signal(syscall.SIGCONT))
	awaitRegistered(t, srv, "", "paused", 1)
	assert.False(t, exited.Load(), "the resumed process's waiter returned the event offered again")
	awaitSettled(t, srv)
	s := b.Stats()
	assert.Equal(t, uint64(1), s.Delivered)
}
