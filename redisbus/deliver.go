package redisbus

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/eventcoord/eventcoord"
)

// handoff is a delivery and the waiters it names.
type handoff struct {
	d   delivery
	ids []string
	ws  []*waiter // those of ids still pending, taken out under b.mu
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
// again: the event is someone else's now.
func (b *Bus) settle(hs ...handoff) {
	b.mu.Lock()
	for i := range hs {
		h := &hs[i]
		k := b.key(h.d.scope, h.d.ev.Name)
		for _, id := range h.ids {
			if w := b.waiters[id]; w != nil && w.key == k {
				b.forget(w)
				h.ws = append(h.ws, w)
			}
		}
	}
	b.mu.Unlock()
	errs := b.answer(hs)
	for i, h := range hs {
		var failed error
		switch err := errs[i]; {
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
			b.unanswered[h.d.id] = len(h.ws)
			b.mu.Unlock()
			b.nudge()
		}
		if failed == nil {
			b.woken.Add(uint64(len(h.ws)))
		}
		for _, w := range h.ws {
			if failed == nil {
				w.ev = h.d.ev
			}
			w.err = failed
			close(w.ready)
		}
	}
}

// answer runs the ack script for each handoff, pipelined, and returns
// their errors.
func (b *Bus) answer(hs []handoff) []error {
	ctx, cancel := context.WithTimeout(b.run, b.opts.timeout)
	defer cancel()
	run := func(c redis.Scripter, h handoff) *redis.Cmd {
		return ackScript.EvalSha(ctx, c, []string{b.prefix + ":fl:" + h.d.id}, b.args(h.d.id, len(h.ws))...)
	}
	cmds := make([]*redis.Cmd, len(hs))
	_, _ = b.ctl.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hs {
			cmds[i] = run(p, h)
		}
		return nil
	})
	errs := make([]error, len(hs))
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") { // Redis restarted: load it and run again
			c = ackScript.Run(ctx, b.ctl, []string{b.prefix + ":fl:" + hs[i].d.id}, b.args(hs[i].d.id, len(hs[i].ws))...)
		}
		if n, err := c.Int64(); err != nil {
			errs[i] = err
		} else if n < 0 {
			errs[i] = errGone
		}
	}
	return errs
}

// errGone is the fate of waiters handed a delivery that, by the time their
// process answered it, had been offered again (the process was paused past
// the deadline): they must not return it, and wait again.
var errGone = errors.New("redisbus: delivery offered again before it was answered")
