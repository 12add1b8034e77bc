package redisbus

import (
	"context"

	"github.com/eventcoord/eventcoord"
)

// Clear removes the event retained for name, if any, and reports whether
// there was one; it is counted in Stats.Cleared. Registrations are not
// affected.
func (s scoped) Clear(ctx context.Context, name string) (bool, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return false, err
	}
	b := s.b
	if !b.begin() {
		return false, eventcoord.ErrClosed
	}
	defer b.calls.Done()
	rctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	k := b.key(s.scope, name)
	n, err := clearScript.Run(rctx, b.rdb, []string{b.prefix + ":r:" + k}, b.args(scopeKey(s.scope), k)...).Int64()
	if err != nil {
		return false, b.unavailable(ctx, "clear", err)
	}
	return n == 1, nil
}
