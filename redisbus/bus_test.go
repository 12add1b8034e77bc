package redisbus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/internal/redistest"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		child(addr, os.Getenv(childNameEnv), os.Getenv(childHoldEnv) != "")
		return
	}
	goleak.VerifyTestMain(m)
}

// newBus starts a Bus on its own Redis connection, as another process would.
func newBus(t testing.TB, srv *redistest.Server, opts ...Option) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := New(ctx, srv.Client(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

// awaitSettled polls Redis until no delivery is in flight: every event is
// delivered or retained.
func awaitSettled(t testing.TB, srv *redistest.Server) {
	t.Helper()
	rdb := srv.Client()
	require.Eventually(t, func() bool {
		n, err := rdb.ZCard(context.Background(), DefaultPrefix+":fld").Result()
		return err == nil && n == 0
	}, 20*time.Second, time.Millisecond, "deliveries still in flight")
}

// retainedInRedis returns the events retained in Redis now.
func retainedInRedis(t testing.TB, srv *redistest.Server) []eventcoord.Event {
	t.Helper()
	rdb := srv.Client()
	keys, err := rdb.Keys(context.Background(), DefaultPrefix+":r:*").Result()
	require.NoError(t, err)
	var evs []eventcoord.Event
	for _, k := range keys {
		rec, err := rdb.Get(context.Background(), k).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired meanwhile
		}
		require.NoError(t, err)
		d, err := parseDelivery("0\n\n" + rec)
		require.NoError(t, err)
		evs = append(evs, d.ev)
	}
	return evs
}

// waitThroughRestart waits on name, again after ErrUnavailable, as a
// client retries a 503: a register script whose answer a Redis crash cut
// off (after Redis ran it, so awaitRegistered saw it) ends the wait with
// ErrUnavailable, since its outcome is unknown.
func waitThroughRestart(ctx context.Context, b *Bus, name string) (eventcoord.Event, error) {
	for {
		ev, err := b.Events().Wait(ctx, name)
		if !errors.Is(err, eventcoord.ErrUnavailable) {
			return ev, err
		}
		select { // a client's backoff while Redis restarts
		case <-ctx.Done():
			return ev, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// awaitRegistered polls Redis until n waiters of scope/name are registered.
func awaitRegistered(t testing.TB, srv *redistest.Server, scope, name string, n int) {
	t.Helper()
	rdb := srv.Client()
	key := DefaultPrefix + ":w:" + (&Bus{}).key(scope, name)
	require.Eventually(t, func() bool {
		got, err := rdb.HLen(context.Background(), key).Result()
		return err == nil && got == int64(n)
	}, 10*time.Second, time.Millisecond, "%d waiters of %q registered in Redis", n, name)
}

func TestFanOutAcrossProcesses(t *testing.T) { // S1
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	const perBus = 5
	got := make(chan eventcoord.Event, 2*perBus)
	var wg sync.WaitGroup
	for _, bus := range []*Bus{a, b} {
		for range perBus {
			wg.Go(func() {
				ev, err := bus.Events().Wait(testCtx(t), "mfa_code")
				assert.NoError(t, err)
				got <- ev
			})
		}
	}
	awaitRegistered(t, srv, "", "mfa_code", 2*perBus)
	r, err := a.Events().Signal(testCtx(t), "mfa_code", eventcoord.Data{"code": "123456"})
	require.NoError(t, err)
	assert.Equal(t, 2*perBus, r.Woken, "every registered waiter reached")
	assert.False(t, r.Retained)
	wg.Wait()
	close(got)
	for ev := range got {
		assert.Equal(t, r.Seq, ev.Seq)
		assert.Equal(t, "123456", ev.Data["code"])
		assert.Equal(t, "mfa_code", ev.Name)
	}
	assert.Equal(t, uint64(perBus), a.Stats().Woken)
	assert.Equal(t, uint64(perBus), b.Stats().Woken)
}

func TestRetainedEventIsConsumedOnceAcrossProcesses(t *testing.T) { // S2
	srv := redistest.Start(t)
	buses := []*Bus{newBus(t, srv), newBus(t, srv), newBus(t, srv)}
	r, err := buses[0].Events().Signal(testCtx(t), "done", eventcoord.Data{"n": 1})
	require.NoError(t, err)
	require.True(t, r.Retained)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []uint64
	for i := range 30 {
		wg.Go(func() {
			// Long enough for the winner even on a loaded machine; the others time out.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			ev, err := buses[i%3].Events().Wait(ctx, "done")
			if err == nil {
				mu.Lock()
				winners = append(winners, ev.Seq)
				mu.Unlock()
			} else {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, []uint64{r.Seq}, winners, "exactly one waiter consumed it")
}

func TestNewerSignalReplacesRetainedAndTTLExpires(t *testing.T) { // S2
	srv := redistest.Start(t)
	ev := newBus(t, srv).Events()
	_, err := ev.Signal(testCtx(t), "x", eventcoord.Data{"v": 1})
	require.NoError(t, err)
	r2, err := ev.Signal(testCtx(t), "x", eventcoord.Data{"v": 2})
	require.NoError(t, err)
	got, err := ev.Wait(testCtx(t), "x")
	require.NoError(t, err)
	assert.Equal(t, r2.Seq, got.Seq)

	// A bus with a short TTL, under a prefix of its own.
	bus := newBus(t, srv, WithRetention(200*time.Millisecond), WithPrefix("short"))
	_, err = bus.Events().Signal(testCtx(t), "y", eventcoord.Data{})
	require.NoError(t, err)
	rdb := srv.Client()
	require.Eventually(t, func() bool {
		return rdb.Exists(context.Background(), "short:r:"+bus.key("", "y")).Val() == 0
	}, 10*time.Second, 5*time.Millisecond, "the retained event expires in Redis")
}

func TestScopesAreIsolatedAcrossProcesses(t *testing.T) { // S8
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	_, err := a.Scope("alice").Signal(testCtx(t), "x", eventcoord.Data{"who": "alice"})
	require.NoError(t, err)
	// A scope cannot be forged by a name: "a" + "b:x" is not "a:b" + "x".
	_, err = a.Scope("a").Signal(testCtx(t), "b:x", eventcoord.Data{})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = b.Scope("bob").Wait(ctx, "x")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err = b.Scope("a:b").Wait(ctx2, "x")
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	got, err := b.Scope("alice").Wait(testCtx(t), "x")
	require.NoError(t, err)
	assert.Equal(t, "alice", got.Data["who"])
}

func TestWaiterThatLeftIsNotCounted(t *testing.T) { // S3, S4
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Events().Wait(ctx, "x")
		done <- err
	}()
	awaitRegistered(t, srv, "", "x", 1)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	awaitRegistered(t, srv, "", "x", 0)
	assert.Equal(t, 0, a.Stats().Waiters)

	r, err := b.Events().Signal(testCtx(t), "x", eventcoord.Data{})
	require.NoError(t, err)
	assert.True(t, r.Retained)
}

func TestNothingIsLostAcrossProcesses(t *testing.T) { // S3 stress
	srv := redistest.Start(t)
	buses := []*Bus{newBus(t, srv), newBus(t, srv), newBus(t, srv)}
	// Each name is signaled exactly once, so no signal can be replaced: at
	// the end every accepted one was returned or is still retained. Waiters
	// aim at names near the signalers' progress, so they race the signals.
	const names = 300
	name := func(i int) string { return fmt.Sprint("n", i) }
	var (
		next     atomic.Int64
		mu       sync.Mutex
		accepted = map[uint64]string{}
		returned = map[uint64]int{}
	)
	record := func(ev eventcoord.Event) {
		mu.Lock()
		returned[ev.Seq]++
		mu.Unlock()
	}
	stop := make(chan struct{})
	var waiters sync.WaitGroup
	for i := range 12 {
		waiters.Go(func() {
			bus := buses[i%len(buses)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				target := int(next.Load()) + rand.IntN(6) - 2
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rand.IntN(20))*time.Millisecond)
				ev, err := bus.Events().Wait(ctx, name(target))
				cancel()
				if err == nil {
					record(ev)
				} else if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Wait: %v", err)
				}
			}
		})
	}
	for i := range names {
		r, err := buses[i%len(buses)].Events().Signal(testCtx(t), name(i), eventcoord.Data{"i": i})
		require.NoError(t, err)
		mu.Lock()
		accepted[r.Seq] = name(i)
		mu.Unlock()
		next.Store(int64(i + 1))
	}
	close(stop)
	waiters.Wait()
	awaitSettled(t, srv)

	for _, ev := range retainedInRedis(t, srv) { // read, not waited for: no timing involved
		record(ev)
	}
	s := buses[0].Stats()
	assert.Equal(t, s.Signals, s.Delivered+uint64(s.Retained)+s.Expired+s.Replaced+s.Evicted, "S3 over Redis: %+v", s)
	fannedOut := 0
	for seq, n := range accepted {
		assert.NotZero(t, returned[seq], "signal %d on %s was neither returned nor retained", seq, n)
		if returned[seq] > 1 {
			fannedOut++
		}
	}
	for seq := range returned {
		assert.Contains(t, accepted, seq, "returned seq %d was never signaled", seq)
	}
	t.Logf("%d signals, all returned or retained; %d reached several waiters", len(accepted), fannedOut)
}

func TestRedisRestartMidWait(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	got := make(chan eventcoord.Event, 1)
	go func() {
		ev, err := waitThroughRestart(testCtx(t), a, "after-restart")
		assert.NoError(t, err)
		got <- ev
	}()
	awaitRegistered(t, srv, "", "after-restart", 1)

	srv.Restart() // SIGKILL, then start again on the same port and data
	// The waiter stays blocked, and a signal accepted after the restart
	// reaches it: the registration seen here may be the one Redis read back
	// from disk, not the one its process makes again, so the signal may find
	// no subscriber; then it is retained, and taken when the process
	// registers again.
	awaitRegistered(t, srv, "", "after-restart", 1)
	var r eventcoord.Receipt
	require.Eventually(t, func() bool {
		var err error
		r, err = b.Events().Signal(testCtx(t), "after-restart", eventcoord.Data{"ok": true})
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	select {
	case ev := <-got:
		assert.Equal(t, r.Seq, ev.Seq)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter never got the signal sent after the restart")
	}
}

func TestRedisDownIsAnErrorNotADrop(t *testing.T) {
	srv := redistest.Start(t)
	bus := newBus(t, srv)
	srv.Kill()
	_, err := bus.Events().Signal(testCtx(t), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable)
	_, err = bus.Events().Wait(testCtx(t), "x")
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable)
	assert.Equal(t, 0, bus.Stats().Waiters)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	_, err = New(ctx, rdb)
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable)
}

func TestInvalidInputAndClose(t *testing.T) {
	srv := redistest.Start(t)
	bus := newBus(t, srv)
	_, err := bus.Events().Signal(testCtx(t), "", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrInvalidName)
	_, err = bus.Events().Signal(testCtx(t), "x", nil)
	assert.ErrorIs(t, err, eventcoord.ErrDataRequired)
	_, err = bus.Events().Wait(testCtx(t), "bad\xff")
	assert.ErrorIs(t, err, eventcoord.ErrInvalidName)

	done := make(chan error, 1)
	go func() {
		_, err := bus.Events().Wait(context.Background(), "x")
		done <- err
	}()
	awaitRegistered(t, srv, "", "x", 1)
	require.NoError(t, bus.Close())
	assert.ErrorIs(t, <-done, eventcoord.ErrClosed)
	_, err = bus.Events().Signal(testCtx(t), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrClosed)
	assert.NoError(t, bus.Close())
}

func TestPollTakesTheRetainedEventWithoutWaiting(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBus(t, srv), newBus(t, srv)
	_, err := a.Events().Poll(testCtx(t), "p")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent)
	awaitRegistered(t, srv, "", "p", 0)

	r, err := a.Events().Signal(testCtx(t), "p", eventcoord.Data{"v": 1})
	require.NoError(t, err)
	require.True(t, r.Retained, "a poll leaves no waiter behind")
	ev, err := b.Events().Poll(testCtx(t), "p")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
	_, err = b.Events().Poll(testCtx(t), "p")
	assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "consumed")
	awaitSettled(t, srv)
}
