package httpapi

import (
	"encoding/json"
	"testing"
	"time"
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

// FuzzDecodeWaitTimeout checks that every accepted timeout lies within
// [0, ceiling].
func FuzzDecodeWaitTimeout(f *testing.F) {
	for _, seed := range []string{`{"timeoutMs":1000}`, `{}`, ``, `{"timeoutMs":-1}`, `{"timeoutMs":1e999}`, `{"timeoutMs":"5"}`} {
		f.Add([]byte(seed))
	}
	const ceiling = 10 * time.Minute
	f.Fuzz(func(t *testing.T, body []byte) {
		d, apiErr := decodeWaitTimeout(body, time.Minute, ceiling)
		if apiErr == nil && (d < 0 || d > ceiling) {
			t.Fatalf("decodeWaitTimeout(%q) = %v; outside [0, %v]", body, d, ceiling)
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
