package client

import "net/http"

// An Option configures a Client made by [New].
type Option interface{ apply(*config) }

type config struct {
	hc *http.Client
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithHTTPClient sets the HTTP client (default: one with no overall
// timeout, since waits are long; contexts bound each call). The Client
// uses a copy of hc that follows no redirects (see [Client]).
func WithHTTPClient(hc *http.Client) Option { return optionFunc(func(c *config) { c.hc = hc }) }
