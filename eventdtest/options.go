package eventdtest

import (
	"slices"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
)

// An Option configures a Server made by [New] or [Start].
type Option interface{ apply(*config) }

type config struct {
	keys        []string // the first is Server.Key
	coordinator []eventcoord.Option
	handler     []httpapi.Option
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithKeys sets the API keys the server accepts, each its own scope; the
// first is Server.Key. Without it the server accepts one key generated for
// it. It panics if no key is given or a key is empty.
func WithKeys(keys ...string) Option {
	if len(keys) == 0 || slices.Contains(keys, "") {
		panic("eventdtest: WithKeys: want one or more non-empty keys")
	}
	keys = slices.Clone(keys)
	return optionFunc(func(c *config) { c.keys = keys })
}

// WithCoordinatorOptions configures the Coordinator behind the server, as
// eventd's flags do: retention (eventcoord.WithRetention) and the bounds
// of retained events.
func WithCoordinatorOptions(opts ...eventcoord.Option) Option {
	opts = slices.Clone(opts)
	return optionFunc(func(c *config) { c.coordinator = append(c.coordinator, opts...) })
}

// WithHandlerOptions configures the HTTP handler, as eventd's flags do:
// the wait ceiling, the body size, the limits per key, a logger. Keys are
// set with WithKeys: an httpapi.WithKeys among opts has no effect.
func WithHandlerOptions(opts ...httpapi.Option) Option {
	opts = slices.Clone(opts)
	return optionFunc(func(c *config) { c.handler = append(c.handler, opts...) })
}
