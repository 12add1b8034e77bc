package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eventcoord/eventcoord"
)

// FuzzDecodeSignal checks that no body makes signal decoding panic, and
// that whatever it accepts is a JSON object that encodes again.
func FuzzDecodeSignal(f *testing.F) {
	for _, seed := range []string{
		`{"data":{"code":"123456"}}`, `{"data":null}`, `{}`, ``, `[]`, `{"data":[1]}`,
		`{"data":{"a":{"b":[1,2,{"c":"\"}"}]}}}`, `{"data":{}} x`, `{"data":{"n":1e400}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data, apiErr := decodeSignal(body)
		if apiErr != nil {
			if apiErr.status != 400 {
				t.Fatalf("decodeSignal(%q) status %d; want 400", body, apiErr.status)
			}
			return
		}
		if data == nil {
			t.Fatalf("decodeSignal(%q) accepted nil data", body)
		}
		if _, err := json.Marshal(data); err != nil {
			t.Fatalf("accepted data does not encode: %v", err)
		}
	})
}

// FuzzDecodeWaitTimeout checks that every accepted wait body has a timeout
// within [0, ceiling] and at most MaxWaitNames valid names, none twice.
func FuzzDecodeWaitTimeout(f *testing.F) {
	for _, seed := range []string{`{"timeoutMs":1000}`, `{}`, ``, `{"timeoutMs":-1}`, `{"timeoutMs":1e999}`, `{"timeoutMs":"5"}`,
		`{"anyOf":["a","b","a","x"],"fresh":true}`, `{"anyOf":[""]}`, `{"anyOf":"a"}`, `{"fresh":1}`} {
		f.Add([]byte(seed))
	}
	const ceiling = 10 * time.Minute
	f.Fuzz(func(t *testing.T, body []byte) {
		b, apiErr := decodeWait(body, "x", time.Minute, ceiling)
		if apiErr != nil {
			return
		}
		if b.timeout < 0 || b.timeout > ceiling {
			t.Fatalf("decodeWait(%q) timeout %v; outside [0, %v]", body, b.timeout, ceiling)
		}
		spec, err := eventcoord.NewWaitSpec("x", b.options()...)
		if err != nil {
			t.Fatalf("decodeWait(%q) accepted %q, which NewWaitSpec refuses: %v", body, b.anyOf, err)
		}
		if len(spec.Names) != 1+len(b.anyOf) {
			t.Fatalf("decodeWait(%q) = %q: repeats", body, b.anyOf)
		}
	})
}

func TestDepth(t *testing.T) {
	for raw, want := range map[string]int{`{}`: 1, `{"a":[{}]}`: 3, `{"a":"[[[{{"}`: 1, `{"a":"\"[["}`: 1, `1`: 0} {
		if got := depth([]byte(raw)); got != want {
			t.Errorf("depth(%s) = %d; want %d", raw, got, want)
		}
	}
}
