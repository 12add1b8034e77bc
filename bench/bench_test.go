package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventcoord/eventcoord"
)

// dropTimeout is how long a round may take before the benchmark calls the
// missing messages dropped and fails.
const dropTimeout = 20 * time.Second

// awaitAll waits for wg, failing the benchmark if impl dropped messages.
func awaitAll(b *testing.B, wg *sync.WaitGroup, impl string) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(dropTimeout):
		b.Fatalf("%s dropped messages: a round did not reach every subscriber in %v", impl, dropTimeout)
	}
}

// crowd is a set of subscribers, one per topic given (alone on it if alone), each arming,
// reporting ready, receiving and reporting receipt, until the bus closes.
type crowd struct {
	bus                bus
	n                  int
	ready, got, exited sync.WaitGroup
}

func startCrowd(bus bus, topics []string, alone bool) *crowd {
	c := &crowd{bus: bus, n: len(topics)}
	c.ready.Add(c.n)
	for _, topic := range topics {
		arm, recv := bus.subscribe(topic, alone)
		c.exited.Go(func() {
			for {
				arm()
				c.ready.Done()
				if !recv() {
					return
				}
				c.got.Done()
			}
		})
	}
	return c
}

// round waits until every subscriber is armed, runs publish, and waits
// until every subscriber has its message.
func (c *crowd) round(b *testing.B, impl string, publish func()) {
	c.ready.Wait()
	c.ready.Add(c.n)
	c.got.Add(c.n)
	publish()
	awaitAll(b, &c.got, impl)
}

func (c *crowd) stop() {
	c.ready.Wait()
	c.bus.close()
	c.exited.Wait()
}

// BenchmarkFanOut publishes one message per iteration to n subscribers of
// one topic; an iteration ends when every subscriber has it.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 16, 256, 4096} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("N=%d/%s", n, impl.name), func(b *testing.B) {
				bus := impl.make(b)
				c := startCrowd(bus, slices.Repeat([]string{"fan"}, n), n == 1)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					c.round(b, impl.name, func() { bus.publish("fan") })
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/wakeup")
				c.stop()
			})
		}
	}
}

// BenchmarkPingPong bounces a message between two goroutines over two
// topics; one op is a round trip. unbuffered-chan is the runtime's own
// round trip, for reference.
func BenchmarkPingPong(b *testing.B) {
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			bus := impl.make(b)
			armPing, recvPing := bus.subscribe("ping", true)
			armPong, recvPong := bus.subscribe("pong", true)
			armPing()
			var exited sync.WaitGroup
			exited.Go(func() {
				for recvPing() {
					armPing()
					bus.publish("pong")
				}
			})
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				armPong()
				bus.publish("ping")
				if !recvPong() {
					b.Fatal("closed")
				}
			}
			b.StopTimer()
			bus.close()
			exited.Wait()
		})
	}
	// The runtime's round trip: two unbuffered channels, no names.
	b.Run("unbuffered-chan", func(b *testing.B) {
		ping, pong := make(chan struct{}), make(chan struct{})
		var exited sync.WaitGroup
		exited.Go(func() {
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
		exited.Wait()
	})
}

// BenchmarkManyNames has 10,000 topics with one subscriber each; an
// iteration publishes once to every topic from GOMAXPROCS goroutines and
// ends when every subscriber has its message.
func BenchmarkManyNames(b *testing.B) {
	const topics = 10_000
	names := make([]string, topics)
	for i := range names {
		names[i] = "t" + strconv.Itoa(i)
	}
	for _, impl := range impls {
		if impl.name == "redis-pubsub" { // 10,000 subscriber connections exceed the open-file limit
			continue
		}
		b.Run(impl.name, func(b *testing.B) {
			bus := impl.make(b)
			c := startCrowd(bus, names, true)
			procs := runtime.GOMAXPROCS(0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.round(b, impl.name, func() {
					var pubs sync.WaitGroup
					for p := range procs {
						pubs.Go(func() {
							for i := p; i < topics; i += procs {
								bus.publish(names[i])
							}
						})
					}
					pubs.Wait()
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*topics), "ns/signal")
			c.stop()
		})
	}
}

// BenchmarkRetention signals first and waits after. Among the peers only
// the runtime has an equivalent: a channel with a buffer of one.
func BenchmarkRetention(b *testing.B) {
	b.Run("eventcoord", func(b *testing.B) {
		c := eventcoord.New()
		defer c.Close()
		data := eventcoord.Data{"k": "v"}
		b.ReportAllocs()
		for range b.N {
			c.Signal("x", data)
			w, _ := c.Register("x")
			<-w.Done()
			w.Wait(context.Background())
		}
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan struct{}, 1)
		b.ReportAllocs()
		for range b.N {
			ch <- struct{}{}
			<-ch
		}
	})
}
