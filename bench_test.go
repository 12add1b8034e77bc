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
