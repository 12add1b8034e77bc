// Package client is a Go client of the Event Coordination API served by
// eventd and by Anchor Browser's hosted API. A *Client is an
// [eventcoord.Events], so code written against that interface runs on it
// as on the in-process Coordinator and on Redis:
//
//	c, err := client.New("http://127.0.0.1:8080", "my-key")
//	...
//	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
//	defer cancel()
//	ev, err := c.Wait(ctx, "mfa_code")
//	if errors.Is(err, context.DeadlineExceeded) { /* nobody signaled in time */ }
//
// Signal, Wait and Poll are Anchor's two operations and work against its
// hosted API too. Wait with [eventcoord.Fresh] or [eventcoord.Or],
// Register, Clear and List use what eventd adds to the API; the hosted API
// does not serve them.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventcoord/eventcoord"
)

// DefaultBaseURL is Anchor Browser's hosted API.
const DefaultBaseURL = "https://api.anchorbrowser.io"

// DefaultWait is the longest a single wait request lasts: a Wait whose
// context has no deadline, or a later one, is made of requests of at most
// this long (the server may cut each shorter; eventd's -max-wait). It is
// also the wait timeout the API applies when a request gives none.
const DefaultWait = 60 * time.Second

// answerSlack is how long after a wait request's timeout the client waits
// for the server's answer before it gives up on the server: the server,
// not the client, ends a wait, so that an event signaled at the last
// moment is not lost in a cut-off answer.
const answerSlack = 5 * time.Second

// Headers of eventd's additions (package httpapi documents them).
const (
	hdrExtensions = "Eventcoord-Extensions"
	hdrSeq        = "Eventcoord-Seq"
	hdrName       = "Eventcoord-Name"
	hdrSignaledAt = "Eventcoord-Signaled-At"
	hdrError      = "Eventcoord-Error"
)

// Client calls the API. It is safe for concurrent use.
//
// It follows no redirects: the API answers its routes where they are, and
// following one would send the API key and the event to wherever the
// answer points. A redirect is returned as an *APIError.
type Client struct {
	base  string // scheme://host[/path], no trailing slash
	key   string
	hc    *http.Client
	lease time.Duration // asked for each Registration; 0: the server's default
}

var _ eventcoord.Events = (*Client)(nil)

// New returns a Client of the API at baseURL (for example
// "http://127.0.0.1:8080" or DefaultBaseURL) authenticating with apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https:// and a host", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("client: an API key is required")
	}
	cfg := config{hc: &http.Client{}}
	for _, o := range opts {
		o.apply(&cfg)
	}
	hc := *cfg.hc // a copy: the caller's client keeps its own redirect policy
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: strings.TrimSuffix(u.String(), "/"), key: apiKey, hc: &hc, lease: cfg.lease}, nil
}

// Events returns c: a *Client is an eventcoord.Events itself. Events is
// kept for code written when it was not; new code uses c directly.
func (c *Client) Events() eventcoord.Events { return c }

// Signal signals the event name with data, waking every client waiting on
// it or, if none waits, having it retained for the next. The Receipt's
// Woken and Retained are filled in when the server reports them (eventd
// does; Anchor's hosted API reports a status only). An invalid name is a
// *eventcoord.NameError, found without a request, as on every backend.
func (c *Client) Signal(ctx context.Context, name string, data eventcoord.Data) (eventcoord.Receipt, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Receipt{}, err
	}
	if data == nil {
		return eventcoord.Receipt{}, eventcoord.ErrDataRequired
	}
	var out struct {
		Data struct {
			Woken    int    `json:"woken"`
			Retained bool   `json:"retained"`
			Seq      uint64 `json:"seq"`
		} `json:"data"`
	}
	if _, err := c.do(ctx, http.MethodPost, c.eventURL(name), map[string]eventcoord.Data{"data": data}, &out); err != nil {
		return eventcoord.Receipt{}, fmt.Errorf("signal %q: %w", name, err)
	}
	return eventcoord.Receipt{Seq: out.Data.Seq, Woken: out.Data.Woken, Retained: out.Data.Retained}, nil
}

// waitRequest is the body of a wait on an event.
type waitRequest struct {
	TimeoutMs int64    `json:"timeoutMs"`
	AnyOf     []string `json:"anyOf,omitempty"`
	Fresh     bool     `json:"fresh,omitempty"`
}

// Wait waits for the next event of name, or of any of the names given with
// eventcoord.Or, until ctx ends (see [eventcoord.Events]). It sends wait
// requests of up to DefaultWait (the server may cut them shorter) until an
// event comes or ctx ends: a wait that ends at ctx's deadline returns an
// error for which errors.Is(err, context.DeadlineExceeded) holds, one
// whose ctx was cancelled context.Canceled. At a deadline, the server ends
// the last request, so that an event signaled at that moment is returned
// rather than lost; a server that does not answer within a few seconds of
// it makes Wait return an error wrapping eventcoord.ErrUnavailable.
//
// Numbers in the event's data are json.Number values, so they keep every
// digit. Event.Seq and Event.SignaledAt are filled in from eventd's
// answer headers (zero from a server without them).
func (c *Client) Wait(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Event, error) {
	spec, err := eventcoord.NewWaitSpec(name, opts...)
	if err != nil {
		return eventcoord.Event{}, err
	}
	body := waitRequest{AnyOf: spec.Names[1:], Fresh: spec.Fresh}
	for {
		if err := ctx.Err(); err != nil {
			return eventcoord.Event{}, fmt.Errorf("wait %q: %w", name, err)
		}
		timeout, _, ok := slice(ctx, DefaultWait)
		if !ok {
			return eventcoord.Event{}, fmt.Errorf("wait %q: %w", name, context.DeadlineExceeded)
		}
		body.TimeoutMs = timeout.Milliseconds()
		ev, err := c.waitFor(ctx, c.eventURL(name)+"/wait", name, body, timeout)
		switch {
		case err == nil:
			return ev, nil
		case !errors.Is(err, context.DeadlineExceeded): // no 408
			return eventcoord.Event{}, wrap("wait", name, err)
		case ctx.Err() != nil: // a 408 at the end of ctx
			return eventcoord.Event{}, wrap("wait", name, ctx.Err())
		}
		// A 408 before ctx's deadline: the server's ceiling is below ours,
		// or ctx has none. Wait again.
	}
}

// slice returns the timeout of the next wait request of a wait until ctx
// ends: what is left of ctx's time, rounded up to a millisecond, at most
// ceiling. last reports that the request may last until ctx's deadline;
// ok is false if less than a millisecond is left.
func slice(ctx context.Context, ceiling time.Duration) (timeout time.Duration, last, ok bool) {
	deadline, has := ctx.Deadline()
	if !has {
		return ceiling, false, true
	}
	left := time.Until(deadline)
	if left < time.Millisecond {
		return 0, true, false
	}
	left = (left + time.Millisecond - 1).Truncate(time.Millisecond)
	if left > ceiling {
		return ceiling, false, true
	}
	return left, true, true
}

// wrap returns err, if not nil, as the error of the call op on name.
func wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %q: %w", op, name, err)
}

// waitFor sends a wait request to url with body, which asks the server to
// wait up to timeout, and returns the event it answers; name is the event
// named in the request, the event's name if the answer does not say.
func (c *Client) waitFor(ctx context.Context, url, name string, body any, timeout time.Duration) (eventcoord.Event, error) {
	rctx, cancel := requestContext(ctx, timeout)
	defer cancel()
	var out struct {
		Data eventcoord.Data `json:"data"`
	}
	hdr, err := c.do(rctx, http.MethodPost, url, body, &out)
	if err != nil {
		return eventcoord.Event{}, answerError(ctx, rctx, err)
	}
	return eventOf(name, out.Data, hdr)
}

// eventOf returns the event of a wait's answer: data, and from hdr its
// name (name if it does not say), Seq and SignaledAt.
func eventOf(name string, data eventcoord.Data, hdr http.Header) (eventcoord.Event, error) {
	ev := eventcoord.Event{Name: name, Data: data}
	if v := hdr.Get(hdrName); v != "" {
		n, err := url.PathUnescape(v)
		if err != nil {
			return eventcoord.Event{}, fmt.Errorf("%w: %s %q is not a percent-encoded name", errBadAnswer, hdrName, v)
		}
		ev.Name = n
	}
	if v := hdr.Get(hdrSeq); v != "" {
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return eventcoord.Event{}, fmt.Errorf("%w: %s %q is not a number", errBadAnswer, hdrSeq, v)
		}
		ev.Seq = seq
	}
	if v := hdr.Get(hdrSignaledAt); v != "" {
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return eventcoord.Event{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time", errBadAnswer, hdrSignaledAt, v)
		}
		ev.SignaledAt = at
	}
	return ev, nil
}

var errBadAnswer = errors.New("client: the server's answer is not as documented")

// errNoAnswer ends a request the server did not answer in time.
var errNoAnswer = errors.New("no answer")

// requestContext returns the context of a request the server ends by
// itself within timeout: it ends when ctx is cancelled, but not at ctx's
// deadline, so that the server's answer (an event at the last moment) is
// not cut off; answerSlack after timeout it ends with cause errNoAnswer.
func requestContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), timeout+answerSlack, errNoAnswer)
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return rctx, func() {
		stop()
		cancel()
	}
}

// answerError returns the error of a request made with rctx, a
// requestContext of ctx, that failed with err.
func answerError(ctx, rctx context.Context, err error) error {
	switch {
	case errors.Is(context.Cause(rctx), errNoAnswer):
		return fmt.Errorf("%w: no answer %v after the wait's timeout", eventcoord.ErrUnavailable, answerSlack)
	case rctx.Err() != nil && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// Poll returns the event retained for name and consumes it, or an error
// for which errors.Is(err, eventcoord.ErrNoEvent) holds at once if none is
// retained: a wait with a zero timeout. eventd answers it so; a server
// that takes a zero timeout for a default one waits instead.
func (c *Client) Poll(ctx context.Context, name string) (eventcoord.Event, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return eventcoord.Event{}, err
	}
	ev, err := c.waitFor(ctx, c.eventURL(name)+"/wait", name, waitRequest{}, 0)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil { // the server's 408
		return eventcoord.Event{}, fmt.Errorf("poll %q: %w", name, eventcoord.ErrNoEvent)
	}
	return ev, wrap("poll", name, err)
}

// Clear removes the event retained for name, if any, and reports whether
// there was one (DELETE /v1/events/{name}; eventd only).
func (c *Client) Clear(ctx context.Context, name string) (bool, error) {
	if err := eventcoord.ValidateName(name); err != nil {
		return false, err
	}
	var out struct {
		Data struct {
			Cleared bool `json:"cleared"`
		} `json:"data"`
	}
	if _, err := c.do(ctx, http.MethodDelete, c.eventURL(name), nil, &out); err != nil {
		return false, wrap("clear", name, err)
	}
	return out.Data.Cleared, nil
}

// List returns a page of the key's names that hold state (GET /v1/events;
// eventd only). A negative opts.Limit is eventcoord.ErrBadListLimit,
// found without a request.
func (c *Client) List(ctx context.Context, opts eventcoord.ListOptions) (eventcoord.Listing, error) {
	if opts.Limit < 0 {
		return eventcoord.Listing{}, eventcoord.ErrBadListLimit
	}
	q := url.Values{}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	u := c.base + "/v1/events"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var out struct {
		Data struct {
			Names []struct {
				Name       string `json:"name"`
				Waiters    int    `json:"waiters"`
				Retained   bool   `json:"retained"`
				Seq        uint64 `json:"seq"`
				SignaledAt string `json:"signaledAt"`
				Size       int64  `json:"size"`
			} `json:"names"`
			Next  string                `json:"next"`
			Scope eventcoord.ScopeStats `json:"scope"`
		} `json:"data"`
	}
	if _, err := c.do(ctx, http.MethodGet, u, nil, &out); err != nil {
		return eventcoord.Listing{}, fmt.Errorf("list: %w", err)
	}
	l := eventcoord.Listing{Names: make([]eventcoord.NameState, len(out.Data.Names)), Next: out.Data.Next, Scope: out.Data.Scope}
	for i, n := range out.Data.Names {
		l.Names[i] = eventcoord.NameState{Name: n.Name, Waiters: n.Waiters, Retained: n.Retained, Seq: n.Seq, Size: n.Size}
		if n.SignaledAt != "" {
			at, err := time.Parse(time.RFC3339Nano, n.SignaledAt)
			if err != nil {
				return eventcoord.Listing{}, fmt.Errorf("list: %w: signaledAt %q of %q", errBadAnswer, n.SignaledAt, n.Name)
			}
			l.Names[i].SignaledAt = at
		}
	}
	return l, nil
}

// CloseIdleConnections closes the idle connections of the client's HTTP
// transport.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// eventURL returns the URL of the event name. A name made only of dots is
// sent percent-encoded ("." as %2E): as it is, a path segment "." or ".."
// would be removed or climb a level on its way (RFC 3986 dot segments).
func (c *Client) eventURL(name string) string {
	segment := url.PathEscape(name)
	if strings.Trim(name, ".") == "" {
		segment = strings.Repeat("%2E", len(name))
	}
	return c.base + "/v1/events/" + segment
}

// do sends a request with body as JSON (no body if nil) and decodes a 200
// answer into out. Any other answer is an *APIError. It asks eventd for
// its extra answer headers, which other servers ignore.
func (c *Client) do(ctx context.Context, method, url string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("anchor-api-key", c.key)
	req.Header.Set(hdrExtensions, "1")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("%w: %w", eventcoord.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readAPIError(resp)
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber() // numbers in event data keep every digit, as json.Number
	if err := dec.Decode(out); err != nil {
		return nil, fmt.Errorf("decoding response: %w", err)
	}
	return resp.Header, nil
}
