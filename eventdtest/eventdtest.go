// Package eventdtest runs eventd in-process for tests: the HTTP API of
// package httpapi over a Coordinator, served on a loopback port, with an
// API key and a ready [client.Client], as net/http/httptest runs an
// http.Handler. Code that talks to eventd, or to Anchor Browser's hosted
// API, is tested against it over real HTTP.
//
//	srv := eventdtest.Start(t)             // closed when the test ends
//	ev := srv.Client()                     // an eventcoord.Events, with srv.Key
//	_, err := ev.Signal(ctx, "mfa_code", eventcoord.Data{"code": "123456"})
//
// Code under test that takes a base URL and a key gets srv.URL and
// srv.Key; Anchor's SDKs work against it by changing their base URL.
package eventdtest

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// Server is an in-process eventd serving HTTP on 127.0.0.1. Its methods
// are safe for concurrent use.
type Server struct {
	// URL is the base URL of the API, http://127.0.0.1:port, for
	// client.New and Anchor's SDKs.
	URL string
	// Key is an API key the server accepts: the first given to
	// [WithKeys], or else one generated for this server.
	Key string

	srv *testserver.Server
}

// Start starts a Server with opts and closes it when the test (or
// benchmark) ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	t.Cleanup(s.Close)
	return s
}

// New starts a Server with opts; the caller must Close it. Start is the
// form for tests; New is for Example functions and TestMain. Like
// httptest.NewServer it panics if it cannot listen on a loopback port.
func New(opts ...Option) *Server {
	cfg := config{keys: []string{"eventdtest-" + rand.Text()}}
	for _, o := range opts {
		o.apply(&cfg)
	}
	// The keys come last: Key must be a key the server accepts.
	hopts := append(cfg.handler, httpapi.WithKeys(cfg.keys))
	srv := testserver.New(eventcoord.New(cfg.coordinator...), hopts...)
	return &Server{URL: srv.URL, Key: cfg.keys[0], srv: srv}
}

// Close stops the server as eventd's graceful shutdown does: waits still
// pending are answered with 503 at once (the client reports
// eventcoord.ErrUnavailable), requests in progress are finished, the idle
// connections of the Server's clients are closed and the Coordinator is
// closed. When Close returns, no goroutine of the Server is left. Close is
// idempotent.
func (s *Server) Close() { s.srv.Close() }

// Client returns a client of the server authenticating with s.Key: an
// [eventcoord.Events], for code written against that interface. Its
// connections are closed by Close.
func (s *Server) Client() *client.Client { return s.ClientFor(s.Key) }

// ClientFor returns a client of the server authenticating with key, which
// may be one the server refuses (its calls then fail with
// client.ErrUnauthorized). Each accepted key is its own scope: no key
// sees another's events. Its connections are closed by Close. It panics
// if key is empty, which no client can send.
func (s *Server) ClientFor(key string) *client.Client {
	c, err := client.New(s.URL, key, client.WithHTTPClient(s.srv.Client()))
	if err != nil {
		panic(fmt.Sprintf("eventdtest: ClientFor(%q): %v", key, err))
	}
	return c
}

// Stats returns the counters of the Coordinator behind the server, over
// every key. Stats().Waiters tells a test that the code it drives has
// reached the server with its wait, so that no sleep is needed.
func (s *Server) Stats() eventcoord.Stats { return s.srv.Coord.Stats() }
