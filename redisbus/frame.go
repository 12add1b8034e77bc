package redisbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventcoord/eventcoord"
)

// The wire format, defined here once. The JSON is built and parsed in Go
// only; the scripts treat it as opaque bytes and add numbers before it.
//
//	body     = {"s":scope,"n":name,"t":unixnano,"d":data}   (JSON)
//	record   = SEQ "\n" body                                (retained, in flight)
//	delivery = D "\n" WID,WID,... "\n" record               (published; a taken
//	                                                          retained event has no WIDs)

// body is the JSON part of a record.
type body struct {
	S string          `json:"s"`
	N string          `json:"n"`
	T int64           `json:"t"`
	D json.RawMessage `json:"d"`
}

// encodeBody returns the body of an event of scope and name signaled at t.
func encodeBody(scope, name string, t time.Time, data eventcoord.Data) (string, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("redisbus: encoding data: %w", err)
	}
	b, err := json.Marshal(body{S: scope, N: name, T: t.UnixNano(), D: raw})
	if err != nil {
		return "", fmt.Errorf("redisbus: encoding data: %w", err)
	}
	return string(b), nil
}

// errMalformed is the error of a delivery or record that does not parse.
var errMalformed = errors.New("redisbus: malformed delivery")

// delivery is a parsed delivery message or taken retained event.
type delivery struct {
	id      string   // D: the in-flight record to acknowledge
	waiters []string // waiter IDs it is for; none for a taken retained event
	scope   string
	ev      eventcoord.Event
}

// parseDelivery parses a delivery. Numbers in the data arrive as
// json.Number, so they keep every digit.
func parseDelivery(msg string) (delivery, error) {
	var d delivery
	id, rest, ok1 := strings.Cut(msg, "\n")
	wids, rec, ok2 := strings.Cut(rest, "\n")
	seq, js, ok3 := strings.Cut(rec, "\n")
	if !ok1 || !ok2 || !ok3 {
		return d, errMalformed
	}
	d.id = id
	if wids != "" {
		d.waiters = strings.Split(wids, ",")
	}
	q, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return d, fmt.Errorf("%w: seq: %w", errMalformed, err)
	}
	var b body
	if err := json.Unmarshal([]byte(js), &b); err != nil {
		return d, fmt.Errorf("%w: body: %w", errMalformed, err)
	}
	d.scope = b.S
	d.ev = eventcoord.Event{Name: b.N, Seq: q, SignaledAt: time.Unix(0, b.T)}
	dec := json.NewDecoder(bytes.NewReader(b.D))
	dec.UseNumber()
	if err := dec.Decode(&d.ev.Data); err != nil {
		return d, fmt.Errorf("%w: data: %w", errMalformed, err)
	}
	return d, nil
}
