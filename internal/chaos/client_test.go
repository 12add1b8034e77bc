package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The scopes and names the clients use: few, so that signals and waits
// meet.
var (
	keys  = []string{"k1", "k2"}
	names = []string{"a", "b", "c", "d"}
)

// Client behaviour.
const (
	signalShare   = 0.32                   // of operations that are signals
	clearShare    = 0.04                   // ... clears
	registerShare = 0.14                   // ... registrations; the rest are waits
	anyOfShare    = 0.25                   // of waits and registrations that wait on two or three names
	freshShare    = 0.2                    // ... that ask for fresh events only
	actShare      = 0.6                    // of registrations after which the client signals one of their names
	withdrawShare = 0.2                    // ... that the client cancels (DELETE) instead of waiting on
	registerLease = 3 * time.Second        // the leaseMs of a registration: what a client that vanished costs
	cancelShare   = 0.15                   // of waits the client abandons mid-wait
	shortWaitMin  = 50 * time.Millisecond  // half the waits are short ...
	shortWaitMax  = 300 * time.Millisecond //
	longWaitMax   = 3 * time.Second        // ... the other half up to this
	maxPause      = 20 * time.Millisecond  // pacing between one client's operations
	errorPause    = 100 * time.Millisecond // more after an error
	signalLimit   = 10 * time.Second       // a signal's request is cut after this
	waitOverLimit = 5 * time.Second        // a wait's request is cut this long after timeout+slack
	maxOpsClient  = 200_000                // a bound on any client's loop
)

// errLeft is the cause of a client's deliberate disconnect.
var errLeft = errors.New("client left mid-wait")

// driver sends the clients' requests and records them as operations.
type driver struct {
	hc    *http.Client
	base  time.Time // the history's clock starts here
	urls  []string  // of the replicas
	slack time.Duration
}

func newDriver(urls []string, slack time.Duration) *driver {
	return &driver{
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // loopback only, whatever the environment says
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
		base: time.Now(), urls: urls, slack: slack,
	}
}

// now is the history's clock: monotonic, from the driver's start.
func (d *driver) now() time.Duration { return time.Since(d.base) }

// client runs one client's loop until stop on the history's clock (or ctx
// ends) and returns its operations. All its choices come from rng.
func (d *driver) client(ctx context.Context, id int, rng *rand.Rand, stop time.Duration) []Op {
	var ops []Op
	for n := 0; n < maxOpsClient && ctx.Err() == nil && d.now() < stop; n++ {
		replica, key, name := rng.IntN(len(d.urls)), keys[rng.IntN(len(keys))], names[rng.IntN(len(names))]
		opID := fmt.Sprintf("c%d-%d", id, n)
		switch p := rng.Float64(); {
		case p < signalShare:
			ops = append(ops, d.signal(id, replica, key, name, opID))
		case p < signalShare+clearShare:
			ops = append(ops, d.clear(id, replica, key, name))
		default:
			o := Op{Client: id, Replica: replica, Key: key, Name: name, Timeout: waitTimeout(rng)}
			if rng.Float64() < anyOfShare {
				for _, i := range rng.Perm(len(names))[:1+rng.IntN(2)] {
					if names[i] != name {
						o.AnyOf = append(o.AnyOf, names[i])
					}
				}
			}
			o.Fresh = rng.Float64() < freshShare
			if p < signalShare+clearShare+registerShare {
				var act string // the name the client signals once registered
				if rng.Float64() < actShare {
					all := o.names()
					act = all[rng.IntN(len(all))]
				}
				ops = append(ops, d.register(o, act, opID+"a", rng.Float64() < withdrawShare)...)
				break
			}
			var leave time.Duration
			if rng.Float64() < cancelShare {
				leave = time.Duration(rng.Int64N(int64(o.Timeout)))
			}
			o.Kind = Wait
			ops = append(ops, d.waitOp(o, leave))
		}
		pause := time.Duration(rng.Int64N(int64(maxPause)))
		if o := ops[len(ops)-1]; o.Outcome != OK && o.Outcome != TimedOut && o.Outcome != Cancelled {
			pause += errorPause // a client that got an error backs off a little
		}
		time.Sleep(pause) // pacing of the load
	}
	return ops
}

// waitTimeout draws a wait's timeout: half short, half long.
func waitTimeout(rng *rand.Rand) time.Duration {
	timeout := shortWaitMin + time.Duration(rng.Int64N(int64(shortWaitMax-shortWaitMin)))
	if rng.IntN(2) == 0 {
		timeout = shortWaitMax + time.Duration(rng.Int64N(int64(longWaitMax-shortWaitMax)))
	}
	return timeout.Truncate(time.Millisecond) // what timeoutMs can say
}

// signal sends POST /v1/events/{name} with data {"op": opID}.
func (d *driver) signal(client, replica int, key, name, opID string) Op {
	body := fmt.Sprintf(`{"data":{"op":%q}}`, opID)
	o := Op{Kind: Signal, Client: client, Replica: replica, Key: key, Name: name, OpID: opID}
	ctx, cancel := context.WithTimeout(context.Background(), signalLimit)
	defer cancel()
	var res struct {
		Data struct {
			Status   string `json:"status"`
			Woken    int    `json:"woken"`
			Retained bool   `json:"retained"`
			Seq      uint64 `json:"seq"`
		} `json:"data"`
	}
	o.Start = d.now()
	status, raw, _, err := d.do(ctx, http.MethodPost, replica, key, "/v1/events/"+url.PathEscape(name), body)
	o.End = d.now()
	d.outcome(&o, ctx, status, raw, err)
	if o.Outcome == OK {
		if err := json.Unmarshal(raw, &res); err != nil || res.Data.Status != "signaled" {
			o.Outcome, o.Err = Transport, fmt.Sprintf("bad signal answer %q: %v", raw, err)
		}
		o.Seq, o.Woken, o.Retained = res.Data.Seq, res.Data.Woken, res.Data.Retained
	}
	return o
}

// clear sends DELETE /v1/events/{name}.
func (d *driver) clear(client, replica int, key, name string) Op {
	o := Op{Kind: Clear, Client: client, Replica: replica, Key: key, Name: name}
	ctx, cancel := context.WithTimeout(context.Background(), signalLimit)
	defer cancel()
	o.Start = d.now()
	status, raw, _, err := d.do(ctx, http.MethodDelete, replica, key, "/v1/events/"+url.PathEscape(name), "")
	o.End = d.now()
	d.outcome(&o, ctx, status, raw, err)
	if o.Outcome == OK {
		var res struct {
			Data struct {
				Cleared *bool `json:"cleared"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &res); err != nil || res.Data.Cleared == nil {
			o.Outcome, o.Err = Transport, fmt.Sprintf("bad clear answer %q: %v", raw, err)
		} else {
			o.Cleared = *res.Data.Cleared
		}
	}
	return o
}

// waitBody is the body of a wait on o's names.
func waitBody(o Op) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"timeoutMs":%d`, o.Timeout.Milliseconds())
	if len(o.AnyOf) > 0 {
		js, _ := json.Marshal(o.AnyOf)
		fmt.Fprintf(&b, `,"anyOf":%s`, js)
	}
	if o.Fresh {
		b.WriteString(`,"fresh":true`)
	}
	b.WriteString("}")
	return b.String()
}

// waitOp sends POST /v1/events/{name}/wait for o (its timeout, anyOf and
// fresh); if leave is not zero, the client disconnects after leave.
func (d *driver) waitOp(o Op, leave time.Duration) Op {
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout+d.slack+waitOverLimit)
	defer cancel()
	ctx, leaveNow := context.WithCancelCause(ctx)
	defer leaveNow(nil)
	if leave > 0 {
		t := time.AfterFunc(leave, func() { leaveNow(errLeft) })
		defer t.Stop()
	}
	o.Start = d.now()
	status, raw, hdr, err := d.do(ctx, http.MethodPost, o.Replica, o.Key, "/v1/events/"+url.PathEscape(o.Name)+"/wait", waitBody(o))
	o.End = d.now()
	d.outcome(&o, ctx, status, raw, err)
	d.event(&o, raw, hdr)
	return o
}

// event reads the event a wait or registration returned: its op id, and
// its name from Eventcoord-Name (sent to waits that asked for anyOf or
// fresh).
func (d *driver) event(o *Op, raw []byte, hdr http.Header) {
	if o.Outcome != OK {
		return
	}
	var res struct {
		Data struct {
			Op string `json:"op"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		o.Err = fmt.Sprintf("bad event %q: %v", raw, err)
	}
	o.OpID = res.Data.Op
	if o.OpID == "" {
		o.Err = fmt.Sprintf("an event without an op: %q", raw)
	}
	if n := hdr.Get("Eventcoord-Name"); n != "" {
		if got, err := url.PathUnescape(n); err == nil {
			o.Got = got
		} else {
			o.Got = n
		}
	}
}

// register registers o (its names, fresh) with POST /v1/waiters, then, if
// act is set, signals act with data opID (a separate operation: the action
// the registration was made before), then cancels it (withdraw) or waits
// on it with o's timeout, cancelling it after a 408. It returns the
// registration's operation, and the signal's if there is one.
func (d *driver) register(o Op, act, opID string, withdraw bool) []Op {
	o.Kind = Register
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout+d.slack+waitOverLimit+signalLimit)
	defer cancel()
	req := map[string]any{"name": o.Name, "leaseMs": registerLease.Milliseconds()}
	if len(o.AnyOf) > 0 {
		req["anyOf"] = o.AnyOf
	}
	if o.Fresh {
		req["fresh"] = true
	}
	body, _ := json.Marshal(req)
	o.Start = d.now()
	status, raw, _, err := d.do(ctx, http.MethodPost, o.Replica, o.Key, "/v1/waiters", string(body))
	var reg struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err == nil && status == http.StatusOK {
		if jerr := json.Unmarshal(raw, &reg); jerr != nil || reg.Data.ID == "" {
			err = fmt.Errorf("bad registration %q: %v", raw, jerr)
		}
	}
	if err != nil || status != http.StatusOK {
		o.End = d.now()
		d.outcome(&o, ctx, status, raw, err)
		return []Op{o}
	}
	var ops []Op
	if act != "" {
		ops = append(ops, d.signal(o.Client, o.Replica, o.Key, act, opID))
	}
	path := "/v1/waiters/" + url.PathEscape(reg.Data.ID)
	if withdraw {
		status, raw, _, err = d.do(ctx, http.MethodDelete, o.Replica, o.Key, path, "")
		o.End = d.now()
		d.outcome(&o, ctx, status, raw, err)
		if o.Outcome == OK {
			o.Outcome = Withdrawn
		}
		return append(ops, o)
	}
	o.WaitStart = d.now()
	status, raw, hdr, err := d.do(ctx, http.MethodPost, o.Replica, o.Key, path+"/wait", fmt.Sprintf(`{"timeoutMs":%d}`, o.Timeout.Milliseconds()))
	o.End = d.now()
	d.outcome(&o, ctx, status, raw, err)
	d.event(&o, raw, hdr)
	if o.Outcome == TimedOut { // it stays registered after a 408: cancel it (its lease would)
		_, _, _, _ = d.do(ctx, http.MethodDelete, o.Replica, o.Key, path, "")
	}
	return append(ops, o)
}

// outcome sets o's outcome from an answer's status and body, or from the
// error that took its place.
func (d *driver) outcome(o *Op, ctx context.Context, status int, raw []byte, err error) {
	o.Status = status
	switch {
	case err != nil && errors.Is(context.Cause(ctx), errLeft):
		o.Outcome, o.Err = Cancelled, errLeft.Error()
	case err != nil && refused(err):
		o.Outcome, o.Err = Refused, err.Error()
	case err != nil:
		o.Outcome, o.Err = Transport, err.Error()
	case status == http.StatusOK:
		o.Outcome = OK
	case status == http.StatusRequestTimeout:
		o.Outcome = TimedOut
	case status == http.StatusServiceUnavailable:
		o.Outcome, o.Err = Unavailable, strings.TrimSpace(string(raw))
	default:
		o.Outcome, o.Err = OtherStatus, strings.TrimSpace(string(raw))
	}
}

// refused reports whether err is a failure to connect, so that the request
// never reached a server.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// do sends a request with body to path on a replica with API key key, and
// returns the answer's status, body and header.
func (d *driver) do(ctx context.Context, method string, replica int, key, path, body string) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.urls[replica]+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("anchor-api-key", key)
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, nil, resp.Header, err
	}
	return resp.StatusCode, raw, resp.Header, nil
}
