package redisbus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/internal/redistest"
)

// BenchmarkPingPong bounces an event between two processes (two Buses on
// one Redis) and, beside it, between two goroutines of one Coordinator.
// One op is one round trip: two signals, two wake-ups.
func BenchmarkPingPong(b *testing.B) {
	srv := redistest.Start(b)
	b.Run("redis-2-processes", func(b *testing.B) {
		pingPong(b, newBus(b, srv).Events(), newBus(b, srv).Events())
	})
	b.Run("in-process", func(b *testing.B) {
		c := eventcoord.New()
		defer c.Close()
		pingPong(b, c.Events(), c.Events())
	})
}

func pingPong(b *testing.B, here, there eventcoord.Events) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var done sync.WaitGroup
	done.Go(func() {
		for {
			if _, err := there.Wait(ctx, "ping"); err != nil {
				return
			}
			if _, err := there.Signal(ctx, "pong", eventcoord.Data{}); err != nil {
				return
			}
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := here.Signal(ctx, "ping", eventcoord.Data{}); err != nil {
			b.Fatal(err)
		}
		if _, err := here.Wait(ctx, "pong"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cancel()
	done.Wait()
}

// BenchmarkFanOut wakes n waiters spread over two processes with one
// signal. Only the time from Signal to the last wake-up counts
// (ns/wakeup); registering the waiters is not timed.
func BenchmarkFanOut(b *testing.B) {
	srv := redistest.Start(b)
	for _, n := range []int{16, 256} {
		b.Run(fmt.Sprintf("N=%d/redis-2-processes", n), func(b *testing.B) {
			buses := []*Bus{newBus(b, srv), newBus(b, srv)}
			fanOut(b, n, func(i int) eventcoord.Events { return buses[i%2].Events() },
				func() { awaitRegistered(b, srv, "", "fan", n) })
		})
		b.Run(fmt.Sprintf("N=%d/in-process", n), func(b *testing.B) {
			c := eventcoord.New()
			defer c.Close()
			fanOut(b, n, func(int) eventcoord.Events { return c.Events() },
				func() {
					for c.Stats().Waiters != n {
					}
				})
		})
	}
}

func fanOut(b *testing.B, n int, events func(i int) eventcoord.Events, registered func()) {
	ctx := context.Background()
	var woken time.Duration
	for range b.N {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if _, err := events(i).Wait(ctx, "fan"); err != nil {
					b.Error(err)
				}
			})
		}
		registered()
		start := time.Now()
		if _, err := events(0).Signal(ctx, "fan", eventcoord.Data{}); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		woken += time.Since(start)
	}
	b.ReportMetric(float64(woken.Nanoseconds())/float64(b.N*n), "ns/wakeup")
}
