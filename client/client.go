// Package client is a Go client of the Event Coordination API served by
// eventd and by Anchor Browser's hosted API.
//
//	c, err := client.New("http://127.0.0.1:8080", "my-key")
//	...
//	ev, err := c.Wait(ctx, "mfa_code", 30*time.Second)
//	if errors.Is(err, client.ErrTimeout) { /* nobody signaled in time */ }
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

// DefaultWait is the wait timeout the API applies when none is given.
const DefaultWait = 60 * time.Second

// Client calls the API. It is safe for concurrent use.
//
// It follows no redirects: the API answers its routes where they are, and
// following one would send the API key and the event to wherever the
// answer points. A redirect is returned as an *APIError.
type Client struct {
	base string // scheme://host[/path], no trailing slash
	key  string
	hc   *http.Client
}

// An Option configures a Client made by [New].
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with no overall
// timeout, since waits are long; contexts bound each call). The Client
// uses a copy of hc that follows no redirects (see [Client]).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

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
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), key: apiKey, hc: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	hc := *c.hc // a copy: the caller's client keeps its own redirect policy
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// Signal signals the event name with data, waking every client waiting on
// it or, if none waits, having it retained for the next. The Receipt's
// Woken and Retained are filled in when the server reports them (eventd
// does; Anchor's hosted API reports a status only).
func (c *Client) Signal(ctx context.Context, name string, data eventcoord.Data) (eventcoord.Receipt, error) {
	if name == "" {
		return eventcoord.Receipt{}, errEmptyName
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
	if _, err := c.post(ctx, c.eventURL(name), map[string]eventcoord.Data{"data": data}, &out); err != nil {
		return eventcoord.Receipt{}, fmt.Errorf("signal %q: %w", name, err)
	}
	return eventcoord.Receipt{Seq: out.Data.Seq, Woken: out.Data.Woken, Retained: out.Data.Retained}, nil
}

// Wait waits up to timeout for the event name and returns it; timeout <= 0
// means the server's default (60 s). When nobody signals in time it returns
// an error for which errors.Is(err, ErrTimeout) holds. The server may cap
// the timeout (eventd: 10 minutes by default). Numbers in the event's data
// are json.Number values, so they keep every digit, as in eventd and on
// Redis.
func (c *Client) Wait(ctx context.Context, name string, timeout time.Duration) (eventcoord.Event, error) {
	var body any
	if timeout > 0 {
		ms := (timeout + time.Millisecond - 1) / time.Millisecond
		body = map[string]int64{"timeoutMs": int64(ms)}
	}
	ev, err := c.wait(ctx, name, body)
	if err != nil {
		return eventcoord.Event{}, fmt.Errorf("wait %q: %w", name, err)
	}
	return ev, nil
}

func (c *Client) wait(ctx context.Context, name string, body any) (eventcoord.Event, error) {
	if name == "" {
		return eventcoord.Event{}, errEmptyName
	}
	var out struct {
		Data eventcoord.Data `json:"data"`
	}
	hdr, err := c.post(ctx, c.eventURL(name)+"/wait", body, &out)
	if err != nil {
		return eventcoord.Event{}, err
	}
	ev := eventcoord.Event{Name: name, Data: out.Data}
	ev.Seq, _ = strconv.ParseUint(hdr.Get("Eventcoord-Seq"), 10, 64) // eventd only
	return ev, nil
}

// Poll returns the event retained for name and consumes it, or an error
// for which errors.Is(err, eventcoord.ErrNoEvent) holds at once if none is
// retained: a wait with a zero timeout (see [eventcoord.Poller]). eventd
// answers it so; a server that takes a zero timeout for a default one
// waits instead.
func (c *Client) Poll(ctx context.Context, name string) (eventcoord.Event, error) {
	ev, err := c.wait(ctx, name, map[string]int64{"timeoutMs": 0})
	if errors.Is(err, ErrTimeout) {
		return eventcoord.Event{}, fmt.Errorf("poll %q: %w", name, eventcoord.ErrNoEvent)
	}
	if err != nil {
		return eventcoord.Event{}, fmt.Errorf("poll %q: %w", name, err)
	}
	return ev, nil
}

// errEmptyName is the one invalid name the client knows by itself: a path
// cannot carry it (the server would answer 404, not 400). The server
// judges every other name.
var errEmptyName = fmt.Errorf("%w: empty", eventcoord.ErrInvalidName)

// Events returns the client as [eventcoord.Events]. Its Wait waits until
// ctx ends, issuing as many API waits as that takes; it returns ctx.Err()
// when ctx ends first.
func (c *Client) Events() eventcoord.Events { return events{c} }

type events struct{ c *Client }

var _ eventcoord.Events = events{}

func (e events) Signal(ctx context.Context, name string, data eventcoord.Data) (eventcoord.Receipt, error) {
	return e.c.Signal(ctx, name, data)
}

func (e events) Poll(ctx context.Context, name string) (eventcoord.Event, error) {
	return e.c.Poll(ctx, name)
}

func (e events) Wait(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Event, error) {
	if len(opts) > 0 {
		return eventcoord.Event{}, errNotYet
	}
	for {
		timeout := DefaultWait
		if deadline, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(deadline))
			if timeout < time.Millisecond {
				return eventcoord.Event{}, context.DeadlineExceeded
			}
		}
		ev, err := e.c.Wait(ctx, name, timeout)
		if !errors.Is(err, ErrTimeout) {
			return ev, err
		}
		if err := ctx.Err(); err != nil {
			return eventcoord.Event{}, err
		}
	}
}

// CloseIdleConnections closes the idle connections of the client's HTTP
// transport.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// eventURL returns the URL of the event name. A name made only of dots is
// sent percent-encoded ("." as %2E): as it is, a path segment "." or ".."
// would be removed or climb a level on its way (RFC 3986 dot segments).
func (c *Client) eventURL(name string) string {
	segment := url.PathEscape(name)
	if name != "" && strings.Trim(name, ".") == "" {
		segment = strings.Repeat("%2E", len(name))
	}
	return c.base + "/v1/events/" + segment
}

// post sends body as JSON (no body if nil) and decodes a 200 answer into
// out. Any other answer is an *APIError.
func (c *Client) post(ctx context.Context, url string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("anchor-api-key", c.key)
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

// errNotYet marks what the API skeleton declares and the client has yet to
// provide. TODO(issue 11): remove with the last use.
var errNotYet = errors.New("client: not implemented yet")

func (e events) Register(ctx context.Context, name string, opts ...eventcoord.WaitOption) (eventcoord.Registration, error) {
	return nil, errNotYet
}

func (e events) Clear(ctx context.Context, name string) (bool, error) { return false, errNotYet }

func (e events) List(ctx context.Context, opts eventcoord.ListOptions) (eventcoord.Listing, error) {
	return eventcoord.Listing{}, errNotYet
}
