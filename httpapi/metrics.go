package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventcoord/eventcoord"
)

// metrics are the handler's Prometheus series. No label ever carries a key,
// a scope, an event name or event data: labels are outcomes and routes.
type metrics struct {
	signals       *prometheus.CounterVec   // by outcome: woken, retained, dropped
	waits         *prometheus.CounterVec   // by outcome: event, timeout, cancelled, shutdown, error
	registrations *prometheus.CounterVec   // ended, by outcome: taken, left, cancelled, expired, shutdown
	duration      *prometheus.HistogramVec // by route, method, code
}

func newMetrics(reg *prometheus.Registry, stats func() eventcoord.Stats) *metrics {
	m := &metrics{
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventd_signals_total",
			Help: "Accepted signals by outcome: woken (reached at least one waiter), retained, or dropped (neither: retention off or evicted at once).",
		}, []string{"outcome"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventd_waits_total",
			Help: "Finished wait requests (on an event or on a registration) by outcome: event, timeout, cancelled (client went away), shutdown, error.",
		}, []string{"outcome"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventd_registrations_ended_total",
			Help: "Registrations made through POST /v1/waiters that ended, by outcome: taken (a wait returned the event), left (a wait with cancelOnTimeout ended without one), cancelled (DELETE), expired (the lease passed), shutdown.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventd_http_request_duration_seconds",
			Help:    "HTTP request durations by route pattern, method and status code.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 30, 60, 300, 600},
		}, []string{"route", "method", "code"}),
	}
	for _, o := range []string{"woken", "retained", "dropped"} {
		m.signals.WithLabelValues(o)
	}
	for _, o := range []string{"event", "timeout", "cancelled", "shutdown", "error"} {
		m.waits.WithLabelValues(o)
	}
	for _, o := range []string{endTaken, endLeft, endCancelled, endExpired, endShutdown} {
		m.registrations.WithLabelValues(o)
	}
	reg.MustRegister(m.signals, m.waits, m.registrations, m.duration)
	if stats != nil {
		reg.MustRegister(statsCollector(stats))
	}
	return m
}

// registerWaiterGauge exposes the number of registrations ws holds.
func registerWaiterGauge(reg prometheus.Registerer, ws *waiterSet) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventd_registrations",
		Help: "Registrations made through POST /v1/waiters held now.",
	}, func() float64 { return float64(ws.len()) }))
}

// statsCollector exposes a Coordinator's Stats, read once per scrape.
type statsCollector func() eventcoord.Stats

var (
	descWaiters   = prometheus.NewDesc("eventd_waiters", "Waiters blocked now.", nil, nil)
	descRetained  = prometheus.NewDesc("eventd_retained_events", "Events retained now.", nil, nil)
	descNames     = prometheus.NewDesc("eventd_names", "Event names holding state now.", nil, nil)
	descOutcomes  = prometheus.NewDesc("eventcoord_signal_outcomes_total", "Coordinator signals by final outcome (S3): delivered, expired, replaced, evicted, cleared.", []string{"outcome"}, nil)
	descSignalled = prometheus.NewDesc("eventcoord_signals_total", "Signals the coordinator accepted.", nil, nil)

	descRetainedBytes = prometheus.NewDesc("eventd_retained_bytes", "Size of the events retained now: the length of their data's JSON encoding.", nil, nil)
	descEvictions     = prometheus.NewDesc("eventcoord_evictions_total", "Evicted retained events by reason (S10): scope_count and scope_bytes (the event's key over its own bound), count and bytes (all keys over the overall bound), closed (discarded at shutdown).", []string{"reason"}, nil)
)

func (f statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWaiters, descRetained, descNames, descOutcomes, descSignalled, descRetainedBytes, descEvictions} {
		ch <- d
	}
}

func (f statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := f()
	ch <- prometheus.MustNewConstMetric(descWaiters, prometheus.GaugeValue, float64(s.Waiters))
	ch <- prometheus.MustNewConstMetric(descRetained, prometheus.GaugeValue, float64(s.Retained))
	ch <- prometheus.MustNewConstMetric(descNames, prometheus.GaugeValue, float64(s.Names))
	ch <- prometheus.MustNewConstMetric(descSignalled, prometheus.CounterValue, float64(s.Signals))
	for outcome, v := range map[string]uint64{"delivered": s.Delivered, "expired": s.Expired, "replaced": s.Replaced, "evicted": s.Evicted, "cleared": s.Cleared} {
		ch <- prometheus.MustNewConstMetric(descOutcomes, prometheus.CounterValue, float64(v), outcome)
	}
	ch <- prometheus.MustNewConstMetric(descRetainedBytes, prometheus.GaugeValue, float64(s.RetainedBytes))
	by := s.EvictedBy
	for reason, v := range map[string]uint64{"scope_count": by.ScopeCount, "scope_bytes": by.ScopeBytes, "count": by.Count, "bytes": by.Bytes, "closed": by.Closed} {
		ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(v), reason)
	}
}

// newRegistry returns a registry with the Go runtime and process collectors,
// which report goroutines, memory and open files.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
