package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eventcoord/eventcoord/internal/testserver"
)

// BenchmarkAnchorRoundTrip measures Anchor's two operations over loopback
// HTTP, as its SDKs send them: a signal nobody waits for, then the wait
// that takes it. It is the path issue 11's additions must not slow down;
// compare runs of it on two commits with benchstat.
func BenchmarkAnchorRoundTrip(b *testing.B) {
	srv := testserver.Start(b)
	hc := srv.Client()
	send := func(path, body string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("anchor-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		send("/v1/events/mfa_code", `{"data": {"code": "123456"}}`)
		send("/v1/events/mfa_code/wait", `{"timeoutMs": 1000}`)
	}
}
