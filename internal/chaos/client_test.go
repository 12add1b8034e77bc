package chaos

import (
	"bytes"
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
	signalShare   = 0.35                   // of operations that are signals
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
		if rng.Float64() < signalShare {
			ops = append(ops, d.signal(id, replica, key, name, fmt.Sprintf("c%d-%d", id, n)))
		} else {
			timeout := shortWaitMin + time.Duration(rng.Int64N(int64(shortWaitMax-shortWaitMin)))
			if rng.IntN(2) == 0 {
				timeout = shortWaitMax + time.Duration(rng.Int64N(int64(longWaitMax-shortWaitMax)))
			}
			timeout = timeout.Truncate(time.Millisecond) // what timeoutMs can say
			var leave time.Duration
			if rng.Float64() < cancelShare {
				leave = time.Duration(rng.Int64N(int64(timeout)))
			}
			ops = append(ops, d.wait(id, replica, key, name, timeout, leave))
		}
		pause := time.Duration(rng.Int64N(int64(maxPause)))
		if o := ops[len(ops)-1]; o.Outcome != OK && o.Outcome != TimedOut && o.Outcome != Cancelled {
			pause += errorPause // a client that got an error backs off a little
		}
		time.Sleep(pause) // pacing of the load
	}
	return ops
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
	status, raw, err := d.post(ctx, replica, key, "/v1/events/"+url.PathEscape(name), body)
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

// wait sends POST /v1/events/{name}/wait with timeoutMs timeout; if leave
// is not zero, the client disconnects after leave.
func (d *driver) wait(client, replica int, key, name string, timeout, leave time.Duration) Op {
	return d.waitOp(Op{Kind: Wait, Client: client, Replica: replica, Key: key, Name: name, Timeout: timeout}, leave)
}

func (d *driver) waitOp(o Op, leave time.Duration) Op {
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout+d.slack+waitOverLimit)
	defer cancel()
	ctx, leaveNow := context.WithCancelCause(ctx)
	defer leaveNow(nil)
	if leave > 0 {
		t := time.AfterFunc(leave, func() { leaveNow(errLeft) })
		defer t.Stop()
	}
	body := fmt.Sprintf(`{"timeoutMs":%d}`, o.Timeout.Milliseconds())
	o.Start = d.now()
	status, raw, err := d.post(ctx, o.Replica, o.Key, "/v1/events/"+url.PathEscape(o.Name)+"/wait", body)
	o.End = d.now()
	d.outcome(&o, ctx, status, raw, err)
	if o.Outcome == OK {
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
	}
	return o
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

// post sends body to path on a replica with API key key, and returns the
// answer's status and body.
func (d *driver) post(ctx context.Context, replica int, key, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.urls[replica]+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anchor-api-key", key)
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, raw, nil
}
