package eventcoord

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// marshaledLen is what dataSize must return: the length of encoding/json's
// output, or 4 (null) for what it cannot encode.
func marshaledLen(t testing.TB, v any) int64 {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		return 4
	}
	return int64(len(b))
}

type point struct {
	X, Y int
}

func TestDataSizeIsTheJSONLength(t *testing.T) {
	tests := []Data{
		{},
		{"": ""},
		{"a": nil, "b": true, "c": false},
		{"s": "plain", "html": "<a href='x'>&</a>", "ctl": "\x00\x01\x1f\t\n\r\b\f\"\\", "utf8": "héllo, 世界 🙂"},
		{"bad utf8": "a\xffb\xc3", "seps": "\u2028\u2029", "key <&>": 1.0},
		{"f": []any{0.0, math.Copysign(0, -1), 1.0, -1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.123, 5e-324, math.MaxFloat64, 0.000001234}},
		{"f32": []any{float32(1e-7), float32(1e21), float32(3.14), float32(0)}},
		{"i": []any{0, -1, math.MaxInt64, int64(math.MinInt64), int32(-7), uint64(math.MaxUint64)}},
		{"n": []any{json.Number("12345678901234567890"), json.Number("1e400"), json.Number("")}},
		{"nested": map[string]any{"a": []any{map[string]any{}, []any{}, []any{nil}}, "b": map[string]any(nil), "c": []any(nil)}},
		{"other types": point{1, 2}, "strings": []string{"a", "<"}, "m": map[string]int{"x": 1}},
		{"long": strings.Repeat("abcdefgh", 100) + "<" + strings.Repeat("z", 13)},
	}
	for _, data := range tests {
		want := marshaledLen(t, data)
		if got := dataSize(data, math.MaxInt64); got != want {
			t.Errorf("dataSize(%v) = %d; want %d", data, got, want)
		}
		if got, ok := smallDataSize(data); ok && got != want {
			t.Errorf("smallDataSize(%v) = %d, true; want %d", data, got, want)
		}
	}
}

func TestDataSizeOfWhatJSONCannotEncode(t *testing.T) {
	assert := func(data Data, want int64) {
		t.Helper()
		if got := dataSize(data, math.MaxInt64); got != want {
			t.Errorf("dataSize(%v) = %d; want %d", data, got, want)
		}
	}
	assert(Data{"c": make(chan int)}, int64(len(`{"c":null}`)))
	assert(Data{"nan": math.NaN(), "inf": math.Inf(-1)}, int64(len(`{"nan":null,"inf":null}`)))
	cycle := Data{}
	cycle["self"] = cycle
	if got := dataSize(cycle, math.MaxInt64); got <= 0 || got > int64(len(`{"self":}`))*(cycleDepth+2) {
		t.Errorf("dataSize(a cycle) = %d; want it measured to depth %d, then null", got, cycleDepth)
	}
}

// TestSizeOfDataThatHoldsItselfManyTimesEnds: a cycle with two branches
// has 2^depth paths, so measuring to a fixed depth never ended (found by
// an outside tester: Signal of such data spun forever); cycles are found
// by their containers now, and whatever the shape, measuring stops once
// the size passes the limit.
func TestSizeOfDataThatHoldsItselfManyTimesEnds(t *testing.T) {
	twice := Data{}
	twice["a"], twice["b"] = twice, twice
	list := []any{nil, nil}
	list[0], list[1] = list, list
	for name, data := range map[string]Data{"map": twice, "slice": {"l": list}} {
		if got := dataSize(data, math.MaxInt64); got <= 0 {
			t.Errorf("%s: dataSize = %d", name, got)
		}
	}
	// No cycle, but 2^40 paths: an encoding of terabytes.
	wide := Data{}
	for range 40 {
		wide = Data{"a": wide, "b": wide}
	}
	if got := dataSize(wide, 1<<20); got <= 1<<20 {
		t.Errorf("dataSize(2^40 leaves, limit 1 MiB) = %d; want more than the limit", got)
	}
}

func TestSmallDataSizeGivesUpOnLargeData(t *testing.T) {
	if _, ok := smallDataSize(Data{"v": strings.Repeat("x", smallSizeBudget)}); ok {
		t.Error("smallDataSize measured data beyond its budget")
	}
	if _, ok := smallDataSize(Data{"p": point{}}); ok {
		t.Error("smallDataSize marshaled under a lock")
	}
	if n, ok := smallDataSize(Data{"v": "x"}); !ok || n != 9 {
		t.Errorf(`smallDataSize({"v":"x"}) = %d, %v; want 9, true`, n, ok)
	}
}

// FuzzDataSize checks the measure against encoding/json on any JSON object
// decoded as eventd decodes it (json.Number) and as a library user might
// (float64).
func FuzzDataSize(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":1}`, `{"a":[1,2.5,-3e-9,1e300,"x"]}`, `{"<":"\u2028\u0000\ud800"}`,
		`{"a":{"b":{"c":[true,false,null]}}}`, `{"big":12345678901234567890}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, useNumber := range []bool{false, true} {
			dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
			if useNumber {
				dec.UseNumber()
			}
			var data Data
			if dec.Decode(&data) != nil || data == nil {
				return
			}
			want := marshaledLen(t, data)
			if got := dataSize(data, math.MaxInt64); got != want {
				t.Fatalf("dataSize(%q decoded, UseNumber %v) = %d; want %d", raw, useNumber, got, want)
			}
		}
	})
}

// FuzzStringSize checks the length of any string, valid UTF-8 or not.
func FuzzStringSize(f *testing.F) {
	for _, seed := range []string{"", "plain text!", "<>&", "\x00\x7f\x80\xff", "é\u2028\u2029🙂", "12345678\"", "abcdefgh\\ijklmnop"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := int64(stringSize(s)), marshaledLen(t, s); got != want {
			t.Fatalf("stringSize(%q) = %d; want %d", s, got, want)
		}
	})
}

func TestSignalOfDataThatHoldsItselfIsRetained(t *testing.T) {
	c := New()
	defer c.Close()
	twice := Data{}
	twice["a"], twice["b"] = twice, twice
	r, err := c.Signal("x", twice)
	if err != nil || !r.Retained {
		t.Fatalf("Signal = %+v, %v; want it retained", r, err)
	}
	if s := c.Stats(); s.RetainedBytes <= 0 {
		t.Errorf("RetainedBytes = %d; want the event measured", s.RetainedBytes)
	}
}
