package redisbus

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/eventcoord/eventcoord"
)

// handoff is a delivery and the waiters it names.
type handoff struct {
	d    delivery
	ids  []string
	ws   []*waiter // those of ids still pending, taken out under b.mu
	held int       // of ws, Registrations that hold the event rather than return it
}

// settle hands each delivery to those of its waiters that are still
// pending, answers all of them in Redis in one round trip, then wakes the
// waiters. The answer comes first, so that a process dying in between
// leaves the delivery to be offered again rather than delivered twice. If
// an answer fails without reaching Redis its waiters get the error and the
// event is offered again; if its fate is unknown they get the event and
// the janitor answers again (answers are idempotent) as soon as Redis is
// back, before the delivery is due to be offered again. If the delivery
// was offered again before this answer, its waiters get errGone and wait
// again: the event is someone else's now. A Registration is never handed
// such an error: it is registered again instead.
func (b *Bus) settle(hs ...handoff) {
	b.mu.Lock()
	for i := range hs {
		h := &hs[i]
		k := b.key(h.d.scope, h.d.ev.Name)
		for _, id := range h.ids {
			w := b.waiters[id]
			if w == nil || !w.has(k) {
				continue
			}
			b.forget(w)
			if len(w.or()) > 0 { // its other names' registrations, and its claim
				b.gone = append(b.gone, removal{w.id, w.keys()})
			}
			if r := w.reg(); r != nil {
				if r.wait > 0 {
					r.state = regReturned // a blocked Wait returns it
				} else {
					h.held++
				}
			}
			h.ws = append(h.ws, w)
		}
	}
	b.mu.Unlock()
	res := b.answer(hs)
	for i, h := range hs {
		var failed error
		switch err := res[i].err; {
		case errors.Is(err, errGone):
			b.log.Info("redisbus: a delivery was answered after it was offered again; its waiters wait again", "delivery", h.d.id)
			failed = errGone
		case err == nil:
		case b.run.Err() != nil && errors.Is(err, context.Canceled):
			failed = eventcoord.ErrClosed
		case notSent(err):
			failed = b.unavailable(context.Background(), "answer delivery", err)
		default: // fate unknown: deliver, and answer again until Redis hears it
			b.warn("answering a delivery failed; answering again in the background", err)
			b.mu.Lock()
			b.unanswered[h.d.id] = [2]int{len(h.ws), h.held}
			b.mu.Unlock()
			b.nudge()
		}
		if failed == nil {
			b.woken.Add(uint64(len(h.ws)))
		}
		b.mu.Lock()
		for _, w := range h.ws {
			if r := w.reg(); r != nil && failed != nil && failed != eventcoord.ErrClosed {
				b.again(w)
				continue
			}
			if failed == nil {
				w.ev = h.d.ev
				if r := w.reg(); r != nil && res[i].tracked && r.state != regReturned {
					if r.state == regLeft { // cancelled while answered: give it back
						b.releases = append(b.releases, h.d.id)
						b.nudge()
					} else {
						w.x.hold = h.d.id
						b.holding[h.d.id]++
					}
				}
			}
			w.err = failed
			close(w.ready)
		}
		b.mu.Unlock()
	}
}

// again puts the Registration's waiter w, which a delivery took but could
// not hand its event, back among the pending waiters under a new ID, to be
// registered again by the janitor; a Registration that left meanwhile
// stays gone, and one whose Bus closed gets ErrClosed. b.mu must be held.
func (b *Bus) again(w *waiter) {
	r := w.reg()
	if r.state == regLeft {
		return
	}
	r.state = regWaiting
	if b.closed {
		w.err = eventcoord.ErrClosed
		close(w.ready)
		return
	}
	b.pend(w)
	b.retry = append(b.retry, w)
	close(r.moved) // a Wait whose context ended waits for the answer: it may leave now
	r.moved = make(chan struct{})
	b.nudge()
}

// ackResult is what Redis said to one answer.
type ackResult struct {
	err     error
	tracked bool // Redis counts the answer's holders
}

// answer runs the ack script for each handoff, pipelined, and returns
// what Redis said to each.
func (b *Bus) answer(hs []handoff) []ackResult {
	ctx, cancel := context.WithTimeout(b.run, b.opts.timeout)
	defer cancel()
	run := func(c redis.Scripter, h handoff) *redis.Cmd {
		return ackScript.EvalSha(ctx, c, []string{b.prefix + ":fl:" + h.d.id}, b.args(h.d.id, len(h.ws), h.held)...)
	}
	cmds := make([]*redis.Cmd, len(hs))
	_, _ = b.ctl.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hs {
			cmds[i] = run(p, h)
		}
		return nil
	})
	res := make([]ackResult, len(hs))
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") { // Redis restarted: load it and run again
			h := hs[i]
			c = ackScript.Run(ctx, b.ctl, []string{b.prefix + ":fl:" + h.d.id}, b.args(h.d.id, len(h.ws), h.held)...)
		}
		n, err := c.Int64()
		switch {
		case err != nil:
			res[i].err = err
		case n < 0:
			res[i].err = errGone
		case n == 3:
			res[i].tracked = true
		}
	}
	return res
}

// errGone is the fate of waiters handed a delivery that, by the time their
// process answered it, had been offered again (the process was paused past
// the deadline): they must not return it, and wait again.
var errGone = errors.New("redisbus: delivery offered again before it was answered")
