package eventcoord_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventcoord/eventcoord"
)

// Each benchmark runs eventcoord and the Go runtime primitive it stands in
// for side by side, with the same scaffolding, so their ratio is measured
// in one run on one machine.

var fanOutSizes = []int{1, 16, 256, 4096}

// BenchmarkFanOut wakes n blocked goroutines per iteration. Each goroutine
// re-registers after waking; the round starts when all have registered.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range fanOutSizes {
		b.Run(fmt.Sprintf("N=%d/eventcoord", n), func(b *testing.B) { fanOutEventcoord(b, n) })
		b.Run(fmt.Sprintf("N=%d/chanclose", n), func(b *testing.B) { fanOutChanClose(b, n) })
	}
}

// fanOutRounds drives b.N rounds: wait until all n goroutines are in
// place, fire, wait until all n have woken.
func fanOutRounds(b *testing.B, n int, ready, woke *sync.WaitGroup, fire func()) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ready.Wait()
		ready.Add(n)
		woke.Add(n)
		fire()
		woke.Wait()
	}
	b.StopTimer()
	ready.Wait() // every goroutine is in place for a round that never comes
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/wakeup")
}

func fanOutEventcoord(b *testing.B, n int) {
	c := eventcoord.New()
	data := eventcoord.Data{"code": "123456"}
	var ready, woke, exited sync.WaitGroup
	defer func() { c.Close(); exited.Wait() }() // joined on every path, b.Fatalf's too
	ready.Add(n)
	for range n {
		exited.Go(func() {
			for {
				w, err := c.Register("fan")
				if err != nil {
					return
				}
				ready.Done()
				if _, err := w.Wait(context.Background()); err != nil {
					return
				}
				woke.Done()
			}
		})
	}
	fanOutRounds(b, n, &ready, &woke, func() {
		if r, err := c.Signal("fan", data); err != nil || r.Woken != n {
			b.Fatalf("Signal = %+v, %v; want %d woken", r, err, n)
		}
	})
}

func fanOutChanClose(b *testing.B, n int) {
	var cur atomic.Pointer[chan struct{}]
	first := make(chan struct{})
	cur.Store(&first)
	var stop atomic.Bool
	var ready, woke, exited sync.WaitGroup
	ready.Add(n)
	for range n {
		exited.Go(func() {
			for {
				ch := *cur.Load()
				ready.Done()
				<-ch
				if stop.Load() {
					return
				}
				woke.Done()
			}
		})
	}
	fanOutRounds(b, n, &ready, &woke, func() {
		next := make(chan struct{})
		close(*cur.Swap(&next))
	})
	stop.Store(true)
	close(*cur.Load())
	exited.Wait()
}

// BenchmarkPingPong bounces one event between two goroutines: signal,
// wake, re-wait. One op is one round trip (two wake-ups).
func BenchmarkPingPong(b *testing.B) {
	b.Run("eventcoord", func(b *testing.B) {
		c := eventcoord.New()
		ctx := context.Background()
		data := eventcoord.Data{}
		var done sync.WaitGroup
		done.Go(func() {
			for {
				if _, err := c.Wait(ctx, "ping"); err != nil {
					return
				}
				if _, err := c.Signal("pong", data); err != nil {
					return
				}
			}
		})
		b.Cleanup(func() { c.Close(); done.Wait() }) // joined on every path
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := c.Signal("ping", data); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Wait(ctx, "pong"); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		c.Close()
		done.Wait()
	})
	b.Run("chan", func(b *testing.B) {
		ping, pong := make(chan struct{}), make(chan struct{})
		var done sync.WaitGroup
		done.Go(func() {
			for range ping {
				pong <- struct{}{}
			}
		})
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			ping <- struct{}{}
			<-pong
		}
		b.StopTimer()
		close(ping)
		done.Wait()
	})
}

// BenchmarkParallel signals and then consumes events on many distinct
// names from every P, with the default shards and with a single shard.
func BenchmarkParallel(b *testing.B) {
	for _, shards := range []int{eventcoord.DefaultShards, 1} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			c := eventcoord.New(eventcoord.WithShards(shards))
			defer c.Close()
			var next atomic.Int64
			data := eventcoord.Data{}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				id := next.Add(1)
				names := make([]string, 64)
				for i := range names {
					names[i] = fmt.Sprintf("p%d-%d", id, i)
				}
				ctx := context.Background()
				for i := 0; pb.Next(); i++ {
					name := names[i%len(names)]
					if _, err := c.Signal(name, data); err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
					if _, err := c.Wait(ctx, name); err != nil && !errors.Is(err, eventcoord.ErrClosed) {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSignalRetained measures Signal when nobody waits: the event is
// retained, replacing the previous one.
func BenchmarkSignalRetained(b *testing.B) {
	c := eventcoord.New()
	defer c.Close()
	data := eventcoord.Data{}
	b.ReportAllocs()
	for range b.N {
		if _, err := c.Signal("x", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignalAtTheBound measures Signal when the retained events are
// at WithMaxRetained: every signal on a new name evicts one.
func BenchmarkSignalAtTheBound(b *testing.B) {
	const bound = 1000
	c := eventcoord.New(eventcoord.WithMaxRetained(bound))
	defer c.Close()
	data := eventcoord.Data{}
	names := make([]string, 4*bound)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	for _, name := range names[:bound] {
		if _, err := c.Signal(name, data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.Signal(names[i%len(names)], data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegistered is issue 13's round, the path users are told to
// use: n goroutines each hold a Waiter from Register; one signaler signals
// a prebuilt payload; each woken goroutine checks the payload's seq,
// registers again, then counts down, and the last one wakes the signaler
// for the next round. One op is one round. closechain runs the same round
// on a chain of closed channels whose next generation is linked before the
// close, so re-arming is a pointer load: the runtime's limit.
func BenchmarkRegistered(b *testing.B) {
	for _, n := range fanOutSizes {
		b.Run(fmt.Sprintf("N=%d/eventcoord", n), func(b *testing.B) { registeredEventcoord(b, n) })
		b.Run(fmt.Sprintf("N=%d/closechain", n), func(b *testing.B) { registeredCloseChain(b, n) })
	}
}

// payloads is the ring of payloads the signaler cycles through, built
// beforehand so that building a map is not measured; round k signals
// payloads[k%len(payloads)], whose "seq" is that index.
var payloads = func() []eventcoord.Data {
	p := make([]eventcoord.Data, 1024)
	for i := range p {
		p[i] = eventcoord.Data{"event": "mfa_code", "seq": i}
	}
	return p
}()

// countdown ends a round: the last of its goroutines to count down wakes
// the signaler. It also counts wake-ups that saw another round's payload.
type countdown struct {
	left atomic.Int64
	done chan struct{}
	bad  atomic.Int64
}

func newCountdown() *countdown { return &countdown{done: make(chan struct{}, 1)} }

// check counts data as bad unless it is round k's payload.
func (cd *countdown) check(data eventcoord.Data, k int) {
	if data["seq"] != k%len(payloads) {
		cd.bad.Add(1)
	}
}

func (cd *countdown) down() {
	if cd.left.Add(-1) == 0 {
		cd.done <- struct{}{}
	}
}

// registeredRounds drives b.N rounds of n wake-ups; every goroutine is in
// place for round 0 when it is called.
func registeredRounds(b *testing.B, n int, cd *countdown, signal func(k int)) {
	b.ReportAllocs()
	b.ResetTimer()
	for k := range b.N {
		cd.left.Store(int64(n))
		signal(k)
		<-cd.done
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/wakeup")
	if bad := cd.bad.Load(); bad > 0 {
		b.Errorf("%d wake-ups got another round's payload", bad)
	}
}

func registeredEventcoord(b *testing.B, n int) {
	c := eventcoord.New()
	ctx := context.Background()
	cd := newCountdown()
	var ready, exited sync.WaitGroup
	defer func() { c.Close(); exited.Wait() }() // joined on every path, b.Fatalf's too
	ready.Add(n)
	for range n {
		exited.Go(func() {
			w, err := c.Register("mfa_code")
			ready.Done()
			for k := 0; err == nil; k++ {
				ev, werr := w.Wait(ctx)
				if werr != nil {
					return
				}
				cd.check(ev.Data, k)
				w, err = c.Register("mfa_code")
				cd.down()
			}
		})
	}
	ready.Wait()
	registeredRounds(b, n, cd, func(k int) {
		if r, err := c.Signal("mfa_code", payloads[k%len(payloads)]); err != nil || r.Woken != n {
			b.Fatalf("Signal = %+v, %v; want %d woken", r, err, n)
		}
	})
}

// generation is one link of the close chain: closing ready hands over
// data, and next is the generation to wait on after it.
type generation struct {
	ready chan struct{}
	data  eventcoord.Data // nil: stop
	next  *generation
}

func registeredCloseChain(b *testing.B, n int) {
	cur := &generation{ready: make(chan struct{})}
	cd := newCountdown()
	var exited sync.WaitGroup
	for range n {
		g := cur
		exited.Go(func() {
			for k := 0; ; k++ {
				<-g.ready
				if g.data == nil {
					return
				}
				cd.check(g.data, k)
				g = g.next
				cd.down()
			}
		})
	}
	defer func() { close(cur.ready); exited.Wait() }() // cur.data is nil: stop
	registeredRounds(b, n, cd, func(k int) {
		g := cur
		g.next = &generation{ready: make(chan struct{})}
		g.data = payloads[k%len(payloads)]
		cur = g.next
		close(g.ready)
	})
}
