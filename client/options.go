package client

import (
	"fmt"
	"net/http"
	"time"
)

// An Option configures a Client made by [New].
type Option interface{ apply(*config) }

type config struct {
	hc    *http.Client
	lease time.Duration // 0: the server's default
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithHTTPClient sets the HTTP client (default: one with no overall
// timeout, since waits are long; contexts bound each call). The Client
// uses a copy of hc that follows no redirects (see [Client]).
func WithHTTPClient(hc *http.Client) Option { return optionFunc(func(c *config) { c.hc = hc }) }

// WithLease sets the lease the client asks for each Registration (default:
// the server's, a minute for eventd; at most 10 minutes there). The client
// renews it while it holds the Registration; a client that vanishes
// leaves its registrations for a lease at most, after which the server
// cancels them and gives back the events they hold. The client renews
// every third of a lease, so keep d well above a round trip to the server
// under load (seconds, not milliseconds). It panics if d is not positive.
func WithLease(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("client: WithLease(%v): want a positive duration", d))
	}
	return optionFunc(func(c *config) { c.lease = d })
}
