package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/cskr/pubsub/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/internal/redistest"
)

// A bus is one implementation under test, reduced to what the workloads
// need. A subscriber calls arm, then recv, again and again: arm puts it in
// place for the next message (a no-op for peers whose subscriptions queue
// messages; a registration for eventcoord and the channel), recv blocks for
// that message and reports false once the bus is closed. A publish reaches
// every subscriber armed before it. A subscriber that is alone on its topic
// and never has two messages outstanding may instead rely on the bus
// keeping a message until it comes for it: eventcoord's retention does
// that, so its lone subscribers call Wait without registering first.
type bus interface {
	subscribe(topic string, alone bool) (arm func(), recv func() bool)
	publish(topic string)
	close()
}

func noArm() {}

// impls are the implementations, by name, in the order reports list them.
var impls = []struct {
	name string
	make func(tb testing.TB) bus
}{
	{"eventcoord", newEventcoord},
	{"chan", newChanBus},
	{"cskr-pubsub", newCskr},
	{"watermill-gochannel", newWatermill},
	{"nats-embedded", newNATS},
	{"redis-pubsub", newRedis},
}

// --- eventcoord: a subscriber registers, then waits; every Wait is one event.

type eventcoordBus struct{ c *eventcoord.Coordinator }

func newEventcoord(testing.TB) bus { return &eventcoordBus{eventcoord.New()} }

func (e *eventcoordBus) subscribe(topic string, alone bool) (func(), func() bool) {
	if alone { // retention keeps a message that comes before the Wait
		return noArm, func() bool {
			_, err := e.c.Wait(context.Background(), topic)
			return err == nil
		}
	}
	var w *eventcoord.Waiter
	arm := func() { w, _ = e.c.Register(topic) }
	return arm, func() bool {
		if w == nil { // closed
			return false
		}
		_, err := w.Wait(context.Background())
		return err == nil
	}
}

// payload is every message's data. Signal takes ownership of its data and
// waiters only read it, so one constant object serves every signal, as the
// constant "v" does for the peers.
var payload = eventcoord.Data{"k": "v"}

func (e *eventcoordBus) publish(topic string) { e.c.Signal(topic, payload) }
func (e *eventcoordBus) close()               { e.c.Close() }

// --- chan: the runtime's primitive; a topic is a channel closed per message.

type chanBus struct {
	mu     sync.Mutex
	topics map[string]*chan struct{}
	closed bool
}

func newChanBus(testing.TB) bus { return &chanBus{topics: map[string]*chan struct{}{}} }

func (c *chanBus) current(topic string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return closedChan
	}
	p := c.topics[topic]
	if p == nil {
		ch := make(chan struct{})
		p = &ch
		c.topics[topic] = p
	}
	return *p
}

func (c *chanBus) subscribe(topic string, _ bool) (func(), func() bool) {
	var ch chan struct{}
	return func() { ch = c.current(topic) }, func() bool {
		<-ch
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.closed
	}
}

func (c *chanBus) publish(topic string) {
	c.mu.Lock()
	p := c.topics[topic]
	if p == nil {
		c.mu.Unlock()
		return
	}
	old := *p
	*p = make(chan struct{})
	c.mu.Unlock()
	close(old)
}

func (c *chanBus) close() {
	c.mu.Lock()
	c.closed = true
	for _, p := range c.topics {
		close(*p)
	}
	c.topics = map[string]*chan struct{}{}
	c.mu.Unlock()
}

var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// --- cskr/pubsub: channels per subscriber behind one dispatcher goroutine.

type cskrBus struct {
	ps *pubsub.PubSub[string, string]
}

func newCskr(testing.TB) bus { return &cskrBus{pubsub.New[string, string](1)} }

func (c *cskrBus) subscribe(topic string, _ bool) (func(), func() bool) {
	ch := c.ps.Sub(topic)
	return noArm, func() bool {
		_, ok := <-ch
		return ok
	}
}

func (c *cskrBus) publish(topic string) { c.ps.Pub("v", topic) }
func (c *cskrBus) close()               { c.ps.Shutdown() }

// --- Watermill's in-memory gochannel Pub/Sub.

type watermillBus struct{ ps *gochannel.GoChannel }

func newWatermill(testing.TB) bus {
	return &watermillBus{gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1}, watermill.NopLogger{})}
}

func (w *watermillBus) subscribe(topic string, _ bool) (func(), func() bool) {
	ch, err := w.ps.Subscribe(context.Background(), topic)
	if err != nil {
		panic(err)
	}
	return noArm, func() bool {
		m, ok := <-ch
		if ok {
			m.Ack()
		}
		return ok
	}
}

func (w *watermillBus) publish(topic string) {
	if err := w.ps.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("v"))); err != nil {
		panic(err)
	}
}

func (w *watermillBus) close() { w.ps.Close() }

// --- NATS: an embedded server on loopback, one client connection.

type natsBus struct {
	srv *server.Server
	nc  *nats.Conn
}

func newNATS(tb testing.TB) bus {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPending: 1 << 30})
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	return &natsBus{srv, nc}
}

func (n *natsBus) subscribe(topic string, _ bool) (func(), func() bool) {
	sub, err := n.nc.SubscribeSync(topic)
	if err != nil {
		panic(err)
	}
	sub.SetPendingLimits(-1, -1)
	n.nc.Flush() // the subscription is in place on the server
	return noArm, func() bool {
		_, err := sub.NextMsg(time.Hour)
		return err == nil
	}
}

func (n *natsBus) publish(topic string) { n.nc.Publish(topic, []byte("v")) }

func (n *natsBus) close() {
	n.nc.Close()
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

// --- Redis pub/sub through go-redis, against a local redis-server.

type redisBus struct {
	rdb  *redis.Client
	subs []*redis.PubSub
	mu   sync.Mutex
}

func newRedis(tb testing.TB) bus {
	srv := redistest.Start(tb)
	return &redisBus{rdb: redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})}
}

func (r *redisBus) subscribe(topic string, _ bool) (func(), func() bool) {
	ps := r.rdb.Subscribe(context.Background(), topic)
	if _, err := ps.Receive(context.Background()); err != nil { // confirmed
		panic(err)
	}
	r.mu.Lock()
	r.subs = append(r.subs, ps)
	r.mu.Unlock()
	return noArm, func() bool {
		_, err := ps.ReceiveMessage(context.Background())
		return err == nil
	}
}

func (r *redisBus) publish(topic string) { r.rdb.Publish(context.Background(), topic, "v") }

func (r *redisBus) close() {
	r.mu.Lock()
	for _, ps := range r.subs {
		ps.Close()
	}
	r.mu.Unlock()
	r.rdb.Close()
}
