package eventcoord

import "time"

// clear removes k's retained event, if any and not expired, counting it
// as cleared. Pending waiters of k, Fresh ones beside the retained event
// included, are left as they are.
func (c *Coordinator) clear(k key) (bool, error) {
	if err := ValidateName(k.name); err != nil {
		return false, err
	}
	sh := c.shardFor(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false, ErrClosed
	}
	b := sh.names[k]
	if b == nil || !b.fired {
		return false, nil
	}
	sh.unindex(b)
	delete(sh.names, k)
	if b.expired(c.since(time.Now())) { // gone already, for every other call
		sh.count.expired++
		b.discard()
		return false, nil
	}
	sh.count.cleared++
	b.discard()
	return true, nil
}
