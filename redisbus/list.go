package redisbus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/eventcoord/eventcoord"
)

// List returns a page of the scope's names that hold state in Redis: a
// registration of any process or a retained event. Waiters counts
// registrations, which include for up to a lease those of waiters whose
// process died. A page is read in one script, so it is consistent within
// itself; it looks at 2 × its limit + 100 names at most, so a page may
// come short of its limit with Next set, when it met many names whose
// registrations had expired (it removes those). ScopeStats.Waiters is
// summed over the scope's names, a thousand per script: a scope of more
// than a thousand names costs a round trip more per thousand, and is not
// read at one instant.
func (s scoped) List(ctx context.Context, opts eventcoord.ListOptions) (eventcoord.Listing, error) {
	if opts.Limit < 0 {
		return eventcoord.Listing{}, eventcoord.ErrBadListLimit
	}
	limit := opts.Limit
	if limit == 0 {
		limit = eventcoord.DefaultListLimit
	}
	limit = min(limit, eventcoord.MaxListLimit)
	b := s.b
	if !b.begin() {
		return eventcoord.Listing{}, eventcoord.ErrClosed
	}
	defer b.calls.Done()
	rctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	sk := scopeKey(s.scope)
	res, err := listScript.Run(rctx, b.rdb, []string{b.prefix + ":n:" + sk}, b.args(sk, opts.After, limit)...).Slice()
	if err != nil {
		return eventcoord.Listing{}, b.unavailable(ctx, "list", err)
	}
	l, cursor, err := parseListing(res)
	if err != nil {
		return eventcoord.Listing{}, fmt.Errorf("redisbus: list: %w", err)
	}
	for cursor != "" {
		res, err := countScript.Run(rctx, b.rdb, []string{b.prefix + ":n:" + sk}, b.args(sk, cursor)...).Slice()
		if err != nil {
			return eventcoord.Listing{}, b.unavailable(ctx, "list", err)
		}
		n, ok := res[1].(int64)
		if cursor, _ = res[0].(string); !ok || len(res) != 2 {
			return eventcoord.Listing{}, fmt.Errorf("redisbus: list: malformed count %v", res)
		}
		l.Scope.Waiters += int(n)
	}
	return l, nil
}

// parseListing reads the list script's answer: the page, and the cursor
// of the count of the scope's registrations ("" when it is done).
func parseListing(res []any) (l eventcoord.Listing, cursor string, err error) {
	if len(res) < 6 || (len(res)-6)%5 != 0 {
		return l, "", fmt.Errorf("malformed answer of %d values", len(res))
	}
	ints := make([]int64, len(res))
	for i, v := range res {
		switch v := v.(type) {
		case int64:
			ints[i] = v
		case string:
			if i != 0 && i != 2 && (i < 6 || (i-6)%5 != 0) { // names and cursors stay strings
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return l, "", fmt.Errorf("malformed number %q", v)
				}
				ints[i] = n
			}
		}
	}
	l.Next, _ = res[0].(string)
	cursor, _ = res[2].(string)
	l.Scope = eventcoord.ScopeStats{Names: int(ints[1]), Waiters: int(ints[3]), Retained: int(ints[4]), RetainedBytes: ints[5]}
	for i := 6; i < len(res); i += 5 {
		name, _ := res[i].(string)
		n := eventcoord.NameState{Name: name, Waiters: int(ints[i+1])}
		if ints[i+2] > 0 {
			n.Retained, n.Seq, n.SignaledAt, n.Size = true, uint64(ints[i+2]), time.Unix(0, ints[i+3]), ints[i+4]
		}
		l.Names = append(l.Names, n)
	}
	return l, cursor, nil
}
