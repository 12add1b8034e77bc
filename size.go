package eventcoord

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// An event's size, for the byte bounds (WithMaxRetainedBytes and
// WithMaxRetainedBytesPerScope), is the length of its Data's JSON encoding
// as encoding/json's Marshal writes it, the unit in which eventd takes it
// in and gives it out. It is computed only for events that are retained,
// never for events handed to waiters.
//
// The common types of decoded JSON (map[string]any, []any, string,
// float64, json.Number, bool, nil) and Go's integer types are measured in
// place without allocating; any other value is measured by marshaling it.
// A value that encoding/json cannot encode (a channel, a function, NaN, a
// cycle) counts as the 4 bytes of null. Measuring stops once the size
// passes the largest byte bound, so that data whose encoding is huge, or
// that holds itself many times over, costs no more than the bound.

// smallSizeBudget bounds the work of measuring an event under a shard's
// lock: an event whose encoding is longer, or that holds a type measured
// by marshaling, is measured again after the lock is released.
const smallSizeBudget = 256

// maxSizeDepth stops measuring at this depth, as encoding/json stops at a
// cycle, so that data that contains itself cannot recurse without end.
const maxSizeDepth = 1000

// cycleDepth is the depth from which the sizer looks for cycles, as
// encoding/json does from a depth of its own: shallower data, the common
// case, costs no bookkeeping, and a cycle is found after at most this
// many levels.
const cycleDepth = 16

// sizer measures the JSON encoding of a value.
type sizer struct {
	budget int64                  // stop once n exceeds it
	cheap  bool                   // under a lock: give up (over) rather than marshal
	n      int64                  // bytes so far
	over   bool                   // the budget ran out: n is more than it, and meaningless
	path   map[container]struct{} // the maps and slices being measured below cycleDepth
}

// container identifies a map or a slice on the sizer's path, as
// encoding/json's cycle check does: a slice by its first element and
// length.
type container struct {
	p unsafe.Pointer
	n int
}

// dataSize returns the length of data's JSON encoding, or a number over
// limit once it passes limit.
func dataSize(data Data, limit int64) int64 {
	s := sizer{budget: limit}
	s.object(data, 0)
	return s.n
}

// smallDataSize returns the length of data's JSON encoding if measuring it
// costs little: at most smallSizeBudget bytes of output and no marshaling.
func smallDataSize(data Data) (int64, bool) {
	s := sizer{budget: smallSizeBudget, cheap: true}
	s.object(data, 0)
	return s.n, !s.over
}

func (s *sizer) add(n int) bool {
	s.n += int64(n)
	if s.n > s.budget {
		s.over = true
	}
	return !s.over
}

// enter adds c to the path and reports true, or reports false if c is on
// it already: a cycle, which counts as null. The caller removes c from the
// path once it is measured.
func (s *sizer) enter(c container) bool {
	if _, ok := s.path[c]; ok {
		s.add(4)
		return false
	}
	if s.path == nil {
		s.path = make(map[container]struct{})
	}
	s.path[c] = struct{}{}
	return true
}

func (s *sizer) object(m map[string]any, depth int) {
	if len(m) == 0 { // without starting an iteration
		if m == nil {
			s.add(4)
		} else {
			s.add(2)
		}
		return
	}
	if depth >= cycleDepth {
		c := container{p: reflect.ValueOf(m).UnsafePointer()}
		if s.enter(c) {
			s.members(m, depth)
			delete(s.path, c)
		}
		return
	}
	s.members(m, depth)
}

// members measures a non-empty object.
func (s *sizer) members(m map[string]any, depth int) {
	if !s.add(len(m) + 1) { // braces and commas
		return
	}
	for k, v := range m {
		if !s.add(stringSize(k) + 1) { // the key and its colon
			return
		}
		if s.value(v, depth+1); s.over {
			return
		}
	}
}

func (s *sizer) value(v any, depth int) {
	if depth > maxSizeDepth {
		s.add(4)
		return
	}
	var buf [32]byte
	switch v := v.(type) {
	case nil:
		s.add(4)
	case string:
		s.add(stringSize(v))
	case bool:
		if v {
			s.add(4)
		} else {
			s.add(5)
		}
	case float64:
		s.add(floatSize(v, 64))
	case json.Number:
		s.add(max(len(v), 1)) // encoding/json writes "" as 0
	case map[string]any:
		s.object(v, depth)
	case []any:
		if v == nil {
			s.add(4)
			return
		}
		if depth >= cycleDepth {
			c := container{p: unsafe.Pointer(unsafe.SliceData(v)), n: len(v)}
			if s.enter(c) {
				s.elements(v, depth)
				delete(s.path, c)
			}
			return
		}
		s.elements(v, depth)
	case int:
		s.add(len(strconv.AppendInt(buf[:0], int64(v), 10)))
	case int64:
		s.add(len(strconv.AppendInt(buf[:0], v, 10)))
	case int32:
		s.add(len(strconv.AppendInt(buf[:0], int64(v), 10)))
	case uint64:
		s.add(len(strconv.AppendUint(buf[:0], v, 10)))
	case float32:
		s.add(floatSize(float64(v), 32))
	default:
		if s.cheap { // marshaling allocates: not under a lock
			s.over = true
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			s.add(4)
			return
		}
		s.add(len(b))
	}
}

// elements measures a non-nil array.
func (s *sizer) elements(v []any, depth int) {
	if !s.add(1 + max(len(v)-1, 0) + 1) {
		return
	}
	for _, e := range v {
		if s.value(e, depth+1); s.over {
			return
		}
	}
}

// floatSize is the length of f as encoding/json writes a float of the
// given bits, or 4 (null) for the NaN and infinities it refuses.
func floatSize(f float64, bits int) int {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 4
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, format, -1, bits)
	n := len(b)
	if format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		n-- // encoding/json writes e-07 as e-7
	}
	return n
}

// stringSize is the length of s as a JSON string written by encoding/json,
// quotes included: HTML-sensitive and control characters escaped, invalid
// UTF-8 replaced by \ufffd, U+2028 and U+2029 escaped.
func stringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plain8(s, i) {
			n += 8
			i += 8
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			n += int(asciiSize[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// plain8 reports whether the 8 bytes of s from i are written as they are:
// ASCII that is neither a control character nor one encoding/json escapes.
func plain8(s string, i int) bool {
	s = s[i : i+8]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	special := x&highs | // not ASCII
		(x-0x20*ones)&^x&highs | // below 0x20
		zeroByte(x^('"'*ones)) | zeroByte(x^('\\'*ones)) |
		zeroByte(x^('<'*ones)) | zeroByte(x^('>'*ones)) | zeroByte(x^('&'*ones))
	return special == 0
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// zeroByte is not 0 if a byte of v is 0 (the high bit of the lowest zero
// byte is set).
func zeroByte(v uint64) uint64 { return (v - ones) & ^v & highs }

// asciiSize is the encoded length of each ASCII byte in a JSON string.
var asciiSize = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			t[c] = 2
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			t[c] = 6
		default:
			t[c] = 1
		}
	}
	return t
}()
