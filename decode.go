package eventcoord

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Decode stores the event's data in the value v points to, as
// json.Unmarshal would store the data's JSON encoding, so that one piece of
// code reads an event the same way on every backend. Numbers decoded into
// an interface value (a field of type any, a map[string]any) are
// json.Number, whatever the backend; decoded into a typed field they follow
// json.Unmarshal's rules (an int field refuses 1.5).
//
// Data itself is the signaler's map in-process and JSON decoded remotely:
// a number in it is whatever Go value the signaler put there in-process,
// and a json.Number from package client and package redisbus. Read it
// through Decode to be independent of that.
func (e Event) Decode(v any) error {
	b, err := json.Marshal(e.Data)
	if err != nil {
		return fmt.Errorf("eventcoord: decode event %q: %w", e.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("eventcoord: decode event %q: %w", e.Name, err)
	}
	return nil
}

// DecodeAs returns the event's data decoded into a T, as [Event.Decode].
func DecodeAs[T any](e Event) (T, error) {
	var v T
	err := e.Decode(&v)
	return v, err
}

// DataOf returns v as Data, by its JSON encoding: v must encode as a JSON
// object (a struct, a map with string keys). Numbers become json.Number,
// so that the Data is the same in-process as it is after a trip over the
// wire.
func DataOf(v any) (Data, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("eventcoord: data of %T: %w", v, err)
	}
	var d Data
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil || d == nil {
		return nil, fmt.Errorf("eventcoord: data of %T: not a JSON object", v)
	}
	return d, nil
}
