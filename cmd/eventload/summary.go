package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// summary is the result of a run; its JSON form is what -json prints.
type summary struct {
	Seconds         float64        `json:"seconds"`
	SignalSeconds   float64        `json:"signal_seconds"`
	Waiters         int            `json:"waiters"`
	Names           int            `json:"names_per_key"`
	Keys            int            `json:"keys"`
	Accepted        int            `json:"signals_accepted"`
	SignalsPerSec   float64        `json:"signals_per_second"`
	Events          int            `json:"events_received"`
	Distinct        int            `json:"signals_received"`
	Drained         int            `json:"signals_retained_at_end"`
	Replaced        float64        `json:"signals_replaced"`
	Expired         float64        `json:"signals_expired"`
	Evicted         float64        `json:"signals_evicted"`
	EventdSignals   float64        `json:"eventd_signals_counted"`
	Lost            int            `json:"lost"`
	Requests        int64          `json:"requests"`
	RequestsPerSec  float64        `json:"requests_per_second"`
	LatencyMs       map[string]any `json:"signal_to_wake_ms"`
	Errors          map[string]int `json:"errors"`
	Samples         []sample       `json:"samples,omitempty"`
	ServerErrors    int            `json:"server_errors"`
	SignalsFailed   int            `json:"signals_failed"`
	WrongOrRepeated int            `json:"wrong_or_repeated"`
}

// OK reports whether the run sent its signals, lost none, and saw no server
// error or wrong delivery.
func (s *summary) OK() bool {
	return s.Accepted > 0 && s.SignalsFailed == 0 && s.Lost == 0 && s.ServerErrors == 0 && s.WrongOrRepeated == 0
}

func (l *loader) summarize(before, after counts, drained map[int64]bool, sigTime, total time.Duration, samples []sample) *summary {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &summary{
		Seconds: total.Seconds(), SignalSeconds: sigTime.Seconds(),
		Waiters: l.cfg.waiters, Names: l.cfg.names, Keys: len(l.cfg.keys),
		Accepted: len(t.accepted), Events: t.events, Drained: len(drained),
		Replaced: after.replaced - before.replaced, Expired: after.expired - before.expired,
		Evicted: after.evicted - before.evicted, EventdSignals: after.signals - before.signals,
		Requests: t.requests.Load(), Errors: t.errors, Samples: samples,
	}
	s.SignalsPerSec = float64(s.Accepted) / sigTime.Seconds()
	s.RequestsPerSec = float64(s.Requests) / total.Seconds()
	for id := range t.accepted {
		if t.received[id] {
			s.Distinct++
		}
	}
	s.Lost = l.lost(before, after, drained)
	s.ServerErrors, s.WrongOrRepeated, s.SignalsFailed = t.server, t.wrong, t.sigFailed
	lat := slices.Clone(t.latencies)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	s.LatencyMs = map[string]any{
		"p50": ms(percentileSorted(lat, .50)), "p90": ms(percentileSorted(lat, .90)),
		"p99": ms(percentileSorted(lat, .99)), "max": ms(percentileSorted(lat, 1)),
	}
	return s
}

// lost counts the accepted signals neither received, nor retained at the
// end, nor among eventd's replaced, expired or evicted ones. l.t.mu must
// be held.
func (l *loader) lost(before, after counts, drained map[int64]bool) int {
	missing := 0
	for id := range l.t.accepted {
		if !l.t.received[id] && !drained[id] {
			missing++
		}
	}
	return max(0, missing-int(after.replaced-before.replaced+after.expired-before.expired+after.evicted-before.evicted))
}

// unaccounted is lost, taking l.t.mu.
func (l *loader) unaccounted(before, after counts, drained map[int64]bool) int {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return l.lost(before, after, drained)
}

func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "signals: %d accepted in %.1fs (%.0f/s); eventd counted %.0f\n", s.Accepted, s.SignalSeconds, s.SignalsPerSec, s.EventdSignals)
	fmt.Fprintf(w, "events: %d received by waiters, %d distinct signals; %d retained at the end; replaced %.0f, expired %.0f, evicted %.0f\n",
		s.Events, s.Distinct, s.Drained, s.Replaced, s.Expired, s.Evicted)
	fmt.Fprintf(w, "requests: %d (%.0f/s)\n", s.Requests, s.RequestsPerSec)
	fmt.Fprintf(w, "signal→wake latency ms: p50 %v  p90 %v  p99 %v  max %v\n",
		s.LatencyMs["p50"], s.LatencyMs["p90"], s.LatencyMs["p99"], s.LatencyMs["max"])
	fmt.Fprintf(w, "errors: %v\n", s.Errors)
	fmt.Fprintf(w, "lost: %d\n", s.Lost)
}

func percentile(d []time.Duration, p float64) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return percentileSorted(d, p)
}

func percentileSorted(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
