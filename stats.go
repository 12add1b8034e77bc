package eventcoord

// Stats is a snapshot of a Coordinator's state and counters. Shards are
// read one after another, so under concurrent use the fields need not agree
// with one another exactly; when the Coordinator is idle they do, and then
//
//	Signals == Delivered + Retained + Expired + Replaced + Evicted + Cleared
//
// holds: every accepted signal has exactly one of those outcomes.
type Stats struct {
	Waiters       int   // waiters blocked now, a wait on several names once per name
	Retained      int   // events retained now
	RetainedBytes int64 // size of the events retained now: the length of their data's JSON encoding
	Names         int   // names holding state now (waiters or a retained event)

	Signals   uint64 // accepted signals
	Delivered uint64 // signals handed to at least one waiter and not given back
	Woken     uint64 // waiter wake-ups: the sum of every Receipt.Woken, plus retained events taken, plus waiters a given-back event went to
	Expired   uint64 // signals that expired while retained, or found no waiter with retention off
	Replaced  uint64 // retained signals replaced by a newer one
	Evicted   uint64 // retained signals evicted by a bound or discarded by Close
	Cleared   uint64 // retained signals removed by Clear
	EvictedBy Evictions
}

// Evictions breaks Stats.Evicted down by cause; its fields add up to it.
type Evictions struct {
	ScopeCount uint64 // the event's scope went over WithMaxRetainedPerScope
	ScopeBytes uint64 // the event's scope went over WithMaxRetainedBytesPerScope
	Count      uint64 // all scopes together went over WithMaxRetained
	Bytes      uint64 // all scopes together went over WithMaxRetainedBytes
	Closed     uint64 // discarded by Close
}

// Stats returns the Coordinator's current Stats. It is safe to call at any
// time, also after Close.
func (c *Coordinator) Stats() Stats {
	var s Stats
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		s.Waiters += sh.waiters
		if hot := sh.hot.Load(); hot != nil { // pending: sh.waiters leaves its holders out
			s.Waiters += int(hot.holders())
		}
		s.Retained += sh.retained
		s.Names += len(sh.names)
		for k := range sh.fresh { // a name with Fresh waiters only
			if _, ok := sh.names[k]; !ok {
				s.Names++
			}
		}
		s.Signals += sh.count.signals
		s.Delivered += sh.count.delivered
		s.Woken += sh.count.woken
		s.Expired += sh.count.expired
		s.Replaced += sh.count.replaced
		s.Evicted += sh.count.evicted
		s.Cleared += sh.count.cleared
		by := &sh.count.evictedBy
		s.EvictedBy.ScopeCount += by[evictScopeCount]
		s.EvictedBy.ScopeBytes += by[evictScopeBytes]
		s.EvictedBy.Count += by[evictCount]
		s.EvictedBy.Bytes += by[evictBytes]
		s.EvictedBy.Closed += by[evictClosed]
		sh.mu.Unlock()
	}
	_, s.RetainedBytes = c.ret.totals()
	return s
}
