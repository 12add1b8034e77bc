package bench

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cskr/pubsub/v2"

	"github.com/eventcoord/eventcoord"
)

// BenchmarkRegistered is issue 13's round, the path eventcoord's users are
// told to use: n goroutines each hold a registration for "mfa_code"; one
// signaler publishes a prebuilt payload; each woken goroutine checks the
// payload's seq, registers again (a no-op for standing subscriptions),
// then counts down, and the last one wakes the signaler for the next
// round. One op is one round. closechain is the runtime's limit: a chain
// of closed channels whose next generation is linked before the close, so
// re-arming is a pointer load. shardmap is the least a by-name API can do:
// a map of channels in 32 mutex shards, re-armed by a lock, a lookup and,
// for the first of a round, a new channel.
func BenchmarkRegistered(b *testing.B) {
	for _, n := range []int{1, 16, 256, 4096} {
		for _, impl := range registeredImpls {
			b.Run(fmt.Sprintf("N=%d/%s", n, impl.name), func(b *testing.B) { runRegistered(b, n, impl.make()) })
		}
	}
}

// A registeredBus is one implementation of the round. arm registers a
// subscriber and returns its recv, which blocks for the next payload,
// registers again and returns the payload, or false once the bus closed.
type registeredBus interface {
	arm() (recv func() (eventcoord.Data, bool))
	publish(eventcoord.Data)
	close()
}

var registeredImpls = []struct {
	name string
	make func() registeredBus
}{
	{"eventcoord", func() registeredBus { return &ecRegistered{c: eventcoord.New()} }},
	{"closechain", func() registeredBus { return &chainRegistered{cur: &generation{ready: make(chan struct{})}} }},
	{"cskr-pubsub", func() registeredBus { return &cskrRegistered{ps: pubsub.New[string, eventcoord.Data](1)} }},
	{"shardmap", func() registeredBus { return newShardMap() }},
}

// payloads is the ring of payloads the signaler cycles through, built
// beforehand so that building a map is not measured; round k publishes
// payloads[k%len(payloads)], whose "seq" is that index.
var payloads = func() []eventcoord.Data {
	p := make([]eventcoord.Data, 1024)
	for i := range p {
		p[i] = eventcoord.Data{"event": "mfa_code", "seq": i}
	}
	return p
}()

func runRegistered(b *testing.B, n int, bus registeredBus) {
	var left, bad atomic.Int64
	done := make(chan struct{}, 1)
	var ready, exited sync.WaitGroup
	ready.Add(n)
	for range n {
		exited.Go(func() {
			recv := bus.arm()
			ready.Done()
			for k := 0; ; k++ {
				data, ok := recv()
				if !ok {
					return
				}
				if data["seq"] != k%len(payloads) {
					bad.Add(1)
				}
				if left.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		})
	}
	ready.Wait()
	var rounds atomic.Int64
	stuck, stop := watchdog(&rounds)
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	for k := range b.N {
		left.Store(int64(n))
		bus.publish(payloads[k%len(payloads)])
		select {
		case <-done:
		case <-stuck:
			b.Fatalf("a round did not reach every subscriber in %v: dropped", dropTimeout)
		}
		rounds.Add(1)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/wakeup")
	bus.close()
	exited.Wait()
	if bad.Load() > 0 {
		b.Errorf("%d wake-ups got another round's payload", bad.Load())
	}
}

// watchdog closes stuck once rounds has not grown for dropTimeout, so that
// a drop fails the benchmark without a timer per round; stop ends it.
func watchdog(rounds *atomic.Int64) (stuck <-chan struct{}, stop func()) {
	s, quit := make(chan struct{}), make(chan struct{})
	go func() {
		tick := time.NewTicker(dropTimeout / 20)
		defer tick.Stop()
		last, since := rounds.Load(), time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				if r := rounds.Load(); r != last {
					last, since = r, now
				} else if now.Sub(since) >= dropTimeout {
					close(s)
					return
				}
			}
		}
	}()
	return s, func() { close(quit) }
}

// --- eventcoord: Register, Wait, Register again.

type ecRegistered struct{ c *eventcoord.Coordinator }

func (e *ecRegistered) arm() func() (eventcoord.Data, bool) {
	w, err := e.c.Register("mfa_code")
	return func() (eventcoord.Data, bool) {
		if err != nil {
			return nil, false
		}
		ev, werr := w.Wait(context.Background())
		if werr != nil {
			return nil, false
		}
		w, err = e.c.Register("mfa_code")
		return ev.Data, true
	}
}

func (e *ecRegistered) publish(d eventcoord.Data) { e.c.Signal("mfa_code", d) }
func (e *ecRegistered) close()                    { e.c.Close() }

// --- closechain: the runtime's limit.

// generation is one link of the close chain: closing ready hands over
// data, and next is the generation to wait on after it.
type generation struct {
	ready chan struct{}
	data  eventcoord.Data // nil: closed
	next  *generation
}

type chainRegistered struct{ cur *generation } // cur: written by the publisher only

func (c *chainRegistered) arm() func() (eventcoord.Data, bool) {
	g := c.cur
	return func() (eventcoord.Data, bool) {
		<-g.ready
		if g.data == nil {
			return nil, false
		}
		d := g.data
		g = g.next
		return d, true
	}
}

func (c *chainRegistered) publish(d eventcoord.Data) {
	g := c.cur
	g.next = &generation{ready: make(chan struct{})}
	g.data = d
	c.cur = g.next
	close(g.ready)
}

func (c *chainRegistered) close() { close(c.cur.ready) }

// --- cskr/pubsub: one standing Sub channel per subscriber.

type cskrRegistered struct {
	ps *pubsub.PubSub[string, eventcoord.Data]
}

func (c *cskrRegistered) arm() func() (eventcoord.Data, bool) {
	ch := c.ps.Sub("mfa_code")
	return func() (eventcoord.Data, bool) {
		d, ok := <-ch
		return d, ok
	}
}

func (c *cskrRegistered) publish(d eventcoord.Data) { c.ps.Pub(d, "mfa_code") }
func (c *cskrRegistered) close()                    { c.ps.Shutdown() }

// --- shardmap: a map of channels in 32 mutex shards.

type shardMap struct {
	seed   maphash.Seed
	shards [32]struct {
		mu     sync.Mutex
		slots  map[string]*slot
		closed bool
		_      [40]byte // keeps neighbouring locks off one cache line
	}
}

// slot is a name's next message: closing ready hands over data.
type slot struct {
	ready chan struct{}
	data  eventcoord.Data // nil: closed
}

func newShardMap() *shardMap {
	m := &shardMap{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].slots = map[string]*slot{}
	}
	return m
}

func (m *shardMap) shard(name string) int { return int(maphash.String(m.seed, name) % 32) }

// Arm returns the slot of name's next message.
func (m *shardMap) Arm(name string) *slot {
	sh := &m.shards[m.shard(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return &slot{ready: closedChan}
	}
	s := sh.slots[name]
	if s == nil {
		s = &slot{ready: make(chan struct{})}
		sh.slots[name] = s
	}
	return s
}

// Publish hands data to every slot armed for name.
func (m *shardMap) Publish(name string, data eventcoord.Data) {
	sh := &m.shards[m.shard(name)]
	sh.mu.Lock()
	s := sh.slots[name]
	delete(sh.slots, name)
	sh.mu.Unlock()
	if s != nil {
		s.data = data
		close(s.ready)
	}
}

func (m *shardMap) arm() func() (eventcoord.Data, bool) {
	s := m.Arm("mfa_code")
	return func() (eventcoord.Data, bool) {
		<-s.ready
		if s.data == nil {
			return nil, false
		}
		d := s.data
		s = m.Arm("mfa_code")
		return d, true
	}
}

func (m *shardMap) publish(d eventcoord.Data) { m.Publish("mfa_code", d) }

func (m *shardMap) close() {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		sh.closed = true
		for _, s := range sh.slots {
			close(s.ready)
		}
		clear(sh.slots)
		sh.mu.Unlock()
	}
}
