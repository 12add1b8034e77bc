package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/eventcoord/eventcoord"
)

// readBody reads a request body of at most max bytes, refusing a body of a
// non-JSON content type (415) and a larger body (413) without reading more
// than max bytes of it. The read must finish within readTimeout.
func readBody(w http.ResponseWriter, r *http.Request, max int64, readTimeout time.Duration) ([]byte, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" && r.ContentLength != 0 { // no body, no type to check
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !hasJSONSuffix(mt)) {
			return nil, errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		}
	}
	if r.ContentLength > max {
		return nil, tooLarge(max)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(readTimeout)) // unsupported only by test recorders
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		// The deadline stays: the rest of the body is not worth waiting for.
		w.Header().Set("Connection", "close")
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge(max)
		}
		return nil, errorf(http.StatusBadRequest, "Could not read the request body")
	}
	_ = rc.SetReadDeadline(time.Time{}) // the wait that follows must not be cut
	return body, nil
}

func hasJSONSuffix(mt string) bool {
	return len(mt) > 5 && mt[len(mt)-5:] == "+json"
}

func tooLarge(max int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes", max))
}

// decodeObject decodes body, which must hold exactly one JSON object, into
// v, keeping numbers exact.
func decodeObject(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingData
	}
	return nil
}

var errTrailingData = errors.New("data after the JSON value")

// bodyProblem describes, for people, why a request body that decodeObject
// refused is not one JSON object.
func bodyProblem(err error) string {
	if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && ute.Field == "" {
		kind := map[string]string{"array": "an array", "string": "a string", "number": "a number", "bool": "a boolean"}[ute.Value]
		if kind == "" {
			kind = ute.Value
		}
		return "Request body must be a JSON object, not " + kind
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("Request body is not valid JSON: %s (at byte %d)", se.Error(), se.Offset)
	}
	switch {
	case errors.Is(err, errTrailingData):
		return "Request body must hold one JSON object and nothing after it"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "Request body is not valid JSON: it ends too early"
	}
	return "Request body must be a JSON object"
}

// decodeSignal returns the data of a signal request body {"data": {...}}.
func decodeSignal(body []byte) (eventcoord.Data, *apiError) {
	var req struct {
		Data json.RawMessage `json:"data"`
	}
	if err := decodeObject(body, &req); err != nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, errorf(http.StatusBadRequest, msgDataRequired)
		}
		return nil, errorf(http.StatusBadRequest, bodyProblem(err))
	}
	raw := bytes.TrimSpace(req.Data)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errorf(http.StatusBadRequest, msgDataRequired)
	}
	if raw[0] != '{' {
		return nil, errorf(http.StatusBadRequest, "Event data must be a JSON object")
	}
	if d := depth(raw); d > maxDepth {
		return nil, errorf(http.StatusBadRequest, fmt.Sprintf("Event data is nested deeper than %d levels", maxDepth))
	}
	var data eventcoord.Data
	if err := decodeObject(raw, &data); err != nil { // raw was decoded once already: not expected
		return nil, errorf(http.StatusBadRequest, "Event data must be a JSON object")
	}
	return data, nil
}

// maxDepth bounds the nesting of event data, so that a payload cannot make
// a decoder or a later consumer recurse without end.
const maxDepth = 64

// depth returns how deeply the JSON text raw nests objects and arrays.
func depth(raw []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

// decodeWaitTimeout returns the timeout of a wait request body
// {"timeoutMs": N}: def when the body or the field is absent, ceiling when
// N is above it.
func decodeWaitTimeout(body []byte, def, ceiling time.Duration) (time.Duration, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return min(def, ceiling), nil
	}
	var req struct {
		TimeoutMs json.RawMessage `json:"timeoutMs"`
	}
	if err := decodeObject(body, &req); err != nil {
		return 0, errorf(http.StatusBadRequest, bodyProblem(err))
	}
	if len(req.TimeoutMs) == 0 || string(req.TimeoutMs) == "null" {
		return min(def, ceiling), nil
	}
	bad := errorf(http.StatusBadRequest, "timeoutMs must be a non-negative integer number of milliseconds")
	if c := req.TimeoutMs[0]; c != '-' && (c < '0' || c > '9') { // a string, object, bool...
		return 0, bad
	}
	f, err := strconv.ParseFloat(string(req.TimeoutMs), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, bad
	}
	if f < 0 || f != math.Trunc(f) {
		return 0, bad
	}
	if f >= float64(ceiling/time.Millisecond) {
		return ceiling, nil
	}
	return time.Duration(f) * time.Millisecond, nil
}
