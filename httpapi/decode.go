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
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

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

// parseTimeoutMs returns the timeout a timeoutMs value raw asks for: def
// when raw is absent or null, ceiling when it is above ceiling (clamped
// then reports true).
func parseTimeoutMs(raw json.RawMessage, def, ceiling time.Duration) (d time.Duration, clamped bool, e *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return min(def, ceiling), def > ceiling, nil
	}
	bad := errorf(http.StatusBadRequest, "timeoutMs must be a non-negative integer number of milliseconds")
	if c := raw[0]; c != '-' && (c < '0' || c > '9') { // a string, object, bool...
		return 0, false, bad
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false, bad
	}
	if f < 0 || f != math.Trunc(f) {
		return 0, false, bad
	}
	if f > float64(ceiling/time.Millisecond) {
		return ceiling, true, nil
	}
	return time.Duration(f) * time.Millisecond, false, nil
}

// waitBody is a wait's request body: Anchor's timeoutMs, and eventd's
// anyOf and fresh, which Anchor's SDKs never send.
type waitBody struct {
	timeout time.Duration
	clamped bool     // timeoutMs was above the ceiling
	anyOf   []string // the other names waited on: valid, without repeats or the path's name
	fresh   bool
}

// options returns the wait options the body asks for.
func (b waitBody) options() []eventcoord.WaitOption {
	var opts []eventcoord.WaitOption
	if len(b.anyOf) > 0 {
		opts = append(opts, eventcoord.Or(b.anyOf...))
	}
	if b.fresh {
		opts = append(opts, eventcoord.Fresh())
	}
	return opts
}

// decodeWait returns the wait body of a wait on name: def when it or its
// timeoutMs is absent, the timeout clamped to ceiling. Fields it does not
// know are ignored, as they always were on Anchor's route.
func decodeWait(body []byte, name string, def, ceiling time.Duration) (waitBody, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return waitBody{timeout: min(def, ceiling), clamped: def > ceiling}, nil
	}
	var req struct {
		TimeoutMs json.RawMessage `json:"timeoutMs"`
		AnyOf     json.RawMessage `json:"anyOf"`
		Fresh     json.RawMessage `json:"fresh"`
	}
	if err := decodeObject(body, &req); err != nil {
		return waitBody{}, errorf(http.StatusBadRequest, bodyProblem(err))
	}
	var b waitBody
	var apiErr *apiError
	if b.timeout, b.clamped, apiErr = parseTimeoutMs(req.TimeoutMs, def, ceiling); apiErr != nil {
		return waitBody{}, apiErr
	}
	if b.anyOf, apiErr = decodeAnyOf(req.AnyOf, name); apiErr != nil {
		return waitBody{}, apiErr
	}
	if b.fresh, apiErr = decodeBool("fresh", req.Fresh); apiErr != nil {
		return waitBody{}, apiErr
	}
	return b, nil
}

// decodeAnyOf returns the names of an anyOf value raw (absent or null:
// none), without repeats and without name, the wait's own. Each must be a
// valid event name, and with name they may be at most MaxWaitNames.
func decodeAnyOf(raw json.RawMessage, name string) ([]string, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return nil, errorf(http.StatusBadRequest, "anyOf must be an array of event names (strings)")
	}
	if !textValid(raw) {
		return nil, kinded(KindInvalidName, errorf(http.StatusBadRequest, "Invalid event name in anyOf: not valid UTF-8"))
	}
	seen := map[string]bool{name: true}
	var out []string
	for i, n := range names {
		if err := eventcoord.ValidateName(n); err != nil {
			ne, _ := errors.AsType[*eventcoord.NameError](err)
			return nil, kinded(KindInvalidName, errorf(http.StatusBadRequest, fmt.Sprintf("Invalid event name in anyOf[%d]: %s", i, ne.Reason)))
		}
		if seen[n] {
			continue
		}
		if len(seen) == eventcoord.MaxWaitNames {
			return nil, kinded(KindTooManyNames, errorf(http.StatusBadRequest, msgTooManyNames))
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

var msgTooManyNames = fmt.Sprintf("A wait takes at most %d names: the path's and those of anyOf, each counted once", eventcoord.MaxWaitNames)

// decodeBool returns the boolean value raw of the field field (absent or
// null: false).
func decodeBool(field string, raw json.RawMessage) (bool, *apiError) {
	switch string(raw) {
	case "", "null", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, errorf(http.StatusBadRequest, field+" must be true or false")
}

// decodeStrict decodes body, one JSON object or nothing, into v as
// decodeObject does, and refuses fields other than allowed, spelt exactly
// so, and a field given twice: eventd's own routes catch a misspelt field
// instead of ignoring it, and never pick one of two values as
// encoding/json would (the last, matched ignoring case), which a proxy
// reading the first would disagree with.
func decodeStrict(body []byte, v any, allowed ...string) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := decodeObject(body, &fields); err != nil {
		return errorf(http.StatusBadRequest, bodyProblem(err))
	}
	// body is one valid object: walk its keys in order.
	dec := json.NewDecoder(bytes.NewReader(body))
	_, _ = dec.Token() // {
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, _ := dec.Token()
		f, _ := tok.(string)
		if !slices.Contains(allowed, f) {
			return errorf(http.StatusBadRequest, fmt.Sprintf("Unknown field %q in the request body: the fields are %s", f, strings.Join(allowed, ", ")))
		}
		if seen[f] {
			return errorf(http.StatusBadRequest, fmt.Sprintf("Field %q appears twice in the request body", f))
		}
		seen[f] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return errorf(http.StatusBadRequest, bodyProblem(err))
		}
	}
	if err := decodeObject(body, v); err != nil { // the same text, decoded once already
		return errorf(http.StatusBadRequest, bodyProblem(err))
	}
	return nil
}

// registerBody is the body of POST /v1/waiters.
type registerBody struct {
	name  string
	wait  waitBody // anyOf and fresh; no timeout
	lease time.Duration
}

// decodeRegister returns the body of a registration: the name is
// required; leaseMs is def when absent, clamped to ceiling.
func decodeRegister(body []byte, def, ceiling time.Duration) (registerBody, *apiError) {
	var req struct {
		Name    *string         `json:"name"`
		AnyOf   json.RawMessage `json:"anyOf"`
		Fresh   json.RawMessage `json:"fresh"`
		LeaseMs json.RawMessage `json:"leaseMs"`
	}
	if apiErr := decodeStrict(body, &req, "name", "anyOf", "fresh", "leaseMs"); apiErr != nil {
		return registerBody{}, apiErr
	}
	if req.Name == nil {
		return registerBody{}, errorf(http.StatusBadRequest, "name is required: the event name to wait for")
	}
	if !textValid(body) { // the body holds names only
		return registerBody{}, kinded(KindInvalidName, errorf(http.StatusBadRequest, "Invalid event name: not valid UTF-8"))
	}
	b := registerBody{name: *req.Name}
	if err := eventcoord.ValidateName(b.name); err != nil {
		return registerBody{}, backendError(err, "")
	}
	var apiErr *apiError
	if b.wait.anyOf, apiErr = decodeAnyOf(req.AnyOf, b.name); apiErr != nil {
		return registerBody{}, apiErr
	}
	if b.wait.fresh, apiErr = decodeBool("fresh", req.Fresh); apiErr != nil {
		return registerBody{}, apiErr
	}
	if b.lease, _, apiErr = parseTimeoutMs(req.LeaseMs, def, ceiling); apiErr != nil {
		return registerBody{}, errorf(http.StatusBadRequest, "leaseMs must be a positive integer number of milliseconds")
	}
	if b.lease == 0 {
		return registerBody{}, errorf(http.StatusBadRequest, "leaseMs must be a positive integer number of milliseconds")
	}
	return b, nil
}

// waiterWaitBody is the body of POST /v1/waiters/{id}/wait.
type waiterWaitBody struct {
	timeout         time.Duration
	clamped         bool
	cancelOnTimeout bool
}

func decodeWaiterWait(body []byte, def, ceiling time.Duration) (waiterWaitBody, *apiError) {
	var req struct {
		TimeoutMs       json.RawMessage `json:"timeoutMs"`
		CancelOnTimeout json.RawMessage `json:"cancelOnTimeout"`
	}
	if apiErr := decodeStrict(body, &req, "timeoutMs", "cancelOnTimeout"); apiErr != nil {
		return waiterWaitBody{}, apiErr
	}
	var b waiterWaitBody
	var apiErr *apiError
	if b.timeout, b.clamped, apiErr = parseTimeoutMs(req.TimeoutMs, def, ceiling); apiErr != nil {
		return waiterWaitBody{}, apiErr
	}
	if b.cancelOnTimeout, apiErr = decodeBool("cancelOnTimeout", req.CancelOnTimeout); apiErr != nil {
		return waiterWaitBody{}, apiErr
	}
	return b, nil
}

// queryValue returns the query parameter name of r, "" if absent. A
// parameter given twice is an error: which one would count is a guess.
func queryValue(q url.Values, name string) (string, *apiError) {
	switch vs := q[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", errorf(http.StatusBadRequest, "Query parameter "+name+" is given more than once")
}

// parseQueryTimeout returns the timeoutMs query parameter: 0 when absent,
// ceiling when above it.
func parseQueryTimeout(q url.Values, ceiling time.Duration) (time.Duration, *apiError) {
	v, apiErr := queryValue(q, "timeoutMs")
	if apiErr != nil || v == "" {
		return 0, apiErr
	}
	if !digits(v) {
		return 0, errorf(http.StatusBadRequest, "timeoutMs must be a non-negative integer number of milliseconds")
	}
	d, _, apiErr := parseTimeoutMs(json.RawMessage(v), 0, ceiling)
	return d, apiErr
}

// digits reports whether s is a non-empty string of ASCII digits.
func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseListQuery returns the list options of GET /v1/events?after=&limit=.
// A limit above MaxListLimit is left for List to cap; a negative one is
// refused as List refuses it.
func parseListQuery(q url.Values) (eventcoord.ListOptions, *apiError) {
	var opts eventcoord.ListOptions
	after, apiErr := queryValue(q, "after")
	if apiErr != nil {
		return opts, apiErr
	}
	if after != "" {
		if err := eventcoord.ValidateName(after); err != nil {
			ne, _ := errors.AsType[*eventcoord.NameError](err)
			return opts, errorf(http.StatusBadRequest, "after must be an event name, the next of the previous page: "+ne.Reason)
		}
	}
	opts.After = after
	limit, apiErr := queryValue(q, "limit")
	if apiErr != nil || limit == "" {
		return opts, apiErr
	}
	if strings.HasPrefix(limit, "-") && digits(limit[1:]) {
		return opts, kinded(KindBadListLimit, errorf(http.StatusBadRequest, msgBadLimit))
	}
	if !digits(limit) {
		return opts, errorf(http.StatusBadRequest, fmt.Sprintf("limit must be an integer from 0 (the default, %d names) to %d", eventcoord.DefaultListLimit, eventcoord.MaxListLimit))
	}
	n, err := strconv.Atoi(limit)
	if err != nil || n > eventcoord.MaxListLimit { // out of range: as many as a page holds
		n = eventcoord.MaxListLimit
	}
	opts.Limit = n
	return opts, nil
}

var msgBadLimit = fmt.Sprintf("limit must not be negative: give 0 (the default, %d names) to %d", eventcoord.DefaultListLimit, eventcoord.MaxListLimit)

// textValid reports whether the JSON raw holds only valid UTF-8 text: no
// invalid byte and no \u escape of a lone surrogate. encoding/json turns
// both into U+FFFD without a word, so a name given so would silently be
// another name; in a path the same name is refused.
func textValid(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i+5 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // an escape of one character, such as \\
			continue
		}
		r, ok := hex4(raw[i+2:])
		i += 5
		switch {
		case !ok || !utf16.IsSurrogate(r):
		case r >= 0xDC00: // a low surrogate first
			return false
		case i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u':
			if lo, ok := hex4(raw[i+3:]); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		default:
			return false
		}
	}
	return true
}

// hex4 returns the rune of the four hex digits that b starts with.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(n), err == nil
}
