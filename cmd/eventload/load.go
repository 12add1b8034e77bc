package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// payload is what each signal carries, so a waiter can check that the
// event is its own and measure how long it took.
type payload struct {
	Key  int    `json:"k"`
	Name string `json:"n"`
	ID   int64  `json:"id"`
	Sent int64  `json:"t"` // unix nanoseconds
}

type target struct {
	key  int
	name string
}

// tally is what the run observed, guarded by mu.
type tally struct {
	mu        sync.Mutex
	accepted  map[int64]target
	received  map[int64]bool
	latencies []time.Duration
	errors    map[string]int
	events    int // 200 answers to waits
	server    int // 5xx answers
	sigFailed int // signals not accepted
	wrong     int // events of another name or key, or seen twice by one waiter
	requests  atomic.Int64
}

func (t *tally) fail(kind string) {
	t.mu.Lock()
	t.errors[kind]++
	t.mu.Unlock()
}

// failStatus records an unexpected status of op ("wait" or "signal").
func (t *tally) failStatus(op string, status int) {
	t.mu.Lock()
	t.errors[op+" "+strconv.Itoa(status)]++
	if status >= 500 {
		t.server++
	}
	if op == "signal" {
		t.sigFailed++
	}
	t.mu.Unlock()
}

// failSignal records a signal that never reached eventd.
func (t *tally) failSignal(err error) {
	t.mu.Lock()
	t.errors["signal transport: "+transportError(err)]++
	t.sigFailed++
	t.mu.Unlock()
}

// failWrong records a wrong delivery.
func (t *tally) failWrong(kind string) {
	t.mu.Lock()
	t.errors[kind]++
	t.wrong++
	t.mu.Unlock()
}

type loader struct {
	cfg config
	hc  *http.Client
	t   *tally
}

func run(ctx context.Context, cfg config, progress io.Writer) (*summary, error) {
	l := &loader{
		cfg: cfg,
		hc: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 0, MaxIdleConnsPerHost: cfg.waiters + 64, IdleConnTimeout: time.Minute,
		}},
		t: &tally{accepted: map[int64]target{}, received: map[int64]bool{}, errors: map[string]int{}},
	}
	defer l.hc.CloseIdleConnections()
	before, err := l.metrics(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s/metrics: %w (is eventd running?)", cfg.url, err)
	}

	start := time.Now()
	waitCtx, stopWaiters := context.WithCancel(ctx)
	defer stopWaiters()
	var waiters sync.WaitGroup
	for i := range cfg.waiters {
		waiters.Go(func() { l.waiter(waitCtx, l.targetOf(i)) })
	}
	var samples []sample
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() { samples = l.sampleLoop(sampleCtx, start, progress) })

	// Let the waiters arrive before signaling, so the first signals find them.
	l.awaitWaiters(ctx, before.waiters+float64(cfg.waiters), 30*time.Second)
	sigStart := time.Now()
	l.signaler(ctx)
	sigTime := time.Since(sigStart)

	// Settle: every waiter is back waiting once all deliveries are done.
	l.awaitWaiters(ctx, before.waiters+float64(cfg.waiters), 10*time.Second)
	stopWaiters()
	waiters.Wait()
	drained, after, err := l.settle(ctx, before)
	stopSampling()
	sampling.Wait()
	if err != nil {
		return nil, fmt.Errorf("reading /metrics at the end: %w", err)
	}
	return l.summarize(before, after, drained, sigTime, time.Since(start), samples), nil
}

// settle drains the retained events and reads eventd's counters until
// every accepted signal is accounted for, or -settle has passed: a
// Redis-backed eventd may still be giving back events that its leaving
// waiters were handed, to be retained or replaced.
func (l *loader) settle(ctx context.Context, before counts) (map[int64]bool, counts, error) {
	drained := map[int64]bool{}
	deadline := time.Now().Add(l.cfg.settle)
	for {
		maps.Copy(drained, l.drain(ctx))
		after, err := l.metrics(ctx)
		if err != nil || l.unaccounted(before, after, drained) == 0 || time.Now().After(deadline) {
			return drained, after, err
		}
		select {
		case <-ctx.Done():
			return drained, after, ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling eventd's counters
		}
	}
}

// targetOf spreads waiters (and signals) over keys and names.
func (l *loader) targetOf(i int) target {
	k := i % len(l.cfg.keys)
	return target{key: k, name: "load-" + strconv.Itoa((i/len(l.cfg.keys))%l.cfg.names)}
}

func (l *loader) post(ctx context.Context, base string, key int, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anchor-api-key", l.cfg.keys[key])
	resp, err := l.hc.Do(req)
	l.t.requests.Add(1)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// waiter waits on its target again and again, checking every event.
func (l *loader) waiter(ctx context.Context, tg target) {
	seen := map[int64]bool{}
	path := "/v1/events/" + tg.name + "/wait"
	for ctx.Err() == nil {
		status, raw, err := l.post(ctx, l.cfg.url, tg.key, path, map[string]int{"timeoutMs": l.cfg.waitMs})
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.t.fail("wait transport: " + transportError(err))
			time.Sleep(50 * time.Millisecond) // back off from a failing server
		case status == http.StatusRequestTimeout:
		case status != http.StatusOK:
			l.t.failStatus("wait", status)
		default:
			var out struct{ Data payload }
			if err := json.Unmarshal(raw, &out); err != nil {
				l.t.fail("wait: undecodable body")
				continue
			}
			p := out.Data
			if p.Key != tg.key || p.Name != tg.name {
				l.t.failWrong("wrong event: another name's or key's")
				continue
			}
			if seen[p.ID] {
				l.t.failWrong("duplicate: one waiter got an event twice")
			}
			seen[p.ID] = true
			l.t.mu.Lock()
			l.t.events++
			l.t.received[p.ID] = true
			l.t.latencies = append(l.t.latencies, now.Sub(time.Unix(0, p.Sent)))
			l.t.mu.Unlock()
		}
	}
}

// signaler sends signals round-robin over the targets, paced by -rate,
// until -count or -duration.
func (l *loader) signaler(ctx context.Context) {
	var tick <-chan time.Time
	if l.cfg.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / l.cfg.rate))
		defer t.Stop()
		tick = t.C
	}
	deadline := time.Now().Add(l.cfg.duration)
	targets := max(l.cfg.names*len(l.cfg.keys), 1)
	for id := int64(0); ; id++ {
		if l.cfg.count > 0 && id >= int64(l.cfg.count) || l.cfg.count == 0 && time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
		// Targets by key first, as targetOf spreads waiters.
		j := int(id) % targets
		tg := target{key: j % len(l.cfg.keys), name: "load-" + strconv.Itoa(j/len(l.cfg.keys))}
		p := payload{Key: tg.key, Name: tg.name, ID: id, Sent: time.Now().UnixNano()}
		status, _, err := l.post(ctx, l.cfg.signalURL, tg.key, "/v1/events/"+tg.name, map[string]payload{"data": p})
		switch {
		case err != nil:
			l.t.failSignal(err)
		case status != http.StatusOK:
			l.t.failStatus("signal", status)
		default:
			l.t.mu.Lock()
			l.t.accepted[id] = tg
			l.t.mu.Unlock()
		}
	}
}

// drain collects the events still retained, with zero-timeout waits.
func (l *loader) drain(ctx context.Context) map[int64]bool {
	drained := map[int64]bool{}
	for k := range l.cfg.keys {
		for n := range l.cfg.names {
			for {
				status, raw, err := l.post(ctx, l.cfg.url, k, "/v1/events/load-"+strconv.Itoa(n)+"/wait", map[string]int{"timeoutMs": 0})
				if err != nil || status != http.StatusOK {
					break
				}
				var out struct{ Data payload }
				if json.Unmarshal(raw, &out) == nil {
					drained[out.Data.ID] = true
				}
			}
		}
	}
	return drained
}

// awaitWaiters polls eventd's waiter gauge until it reaches n or d passes.
func (l *loader) awaitWaiters(ctx context.Context, n float64, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m, err := l.metrics(ctx)
		if err == nil && (m.waiters >= n || !m.hasWaiters) { // no gauge: nothing to wait for
			return
		}
		time.Sleep(20 * time.Millisecond) // polling eventd's gauge
	}
}

type sample struct {
	T          float64 `json:"t_s"`
	RSS        float64 `json:"rss_bytes"`
	Goroutines float64 `json:"goroutines"`
	Waiters    float64 `json:"waiters"`
	P99ms      float64 `json:"p99_ms"` // over the interval since the last sample
}

// sampleLoop prints a progress line each second and samples eventd every
// -sample, until ctx ends.
func (l *loader) sampleLoop(ctx context.Context, start time.Time, progress io.Writer) []sample {
	var samples []sample
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	lastSample, lastLat := time.Now(), 0
	for {
		select {
		case <-ctx.Done():
			return samples
		case now := <-sec.C:
			l.t.mu.Lock()
			sent, events, errs := len(l.t.accepted), l.t.events, 0
			for _, n := range l.t.errors {
				errs += n
			}
			lat := slices.Clone(l.t.latencies[lastLat:])
			l.t.mu.Unlock()
			fmt.Fprintf(progress, "%6.0fs  signals %d  events %d  requests %d  errors %d\n",
				now.Sub(start).Seconds(), sent, events, l.t.requests.Load(), errs)
			if now.Sub(lastSample) >= l.cfg.sample {
				m, err := l.metrics(ctx)
				if err == nil {
					samples = append(samples, sample{T: now.Sub(start).Seconds(), RSS: m.rss, Goroutines: m.goroutines,
						Waiters: m.waiters, P99ms: ms(percentile(lat, 0.99))})
				}
				lastSample, lastLat = now, lastLat+len(lat)
			}
		}
	}
}

// counts are the /metrics series eventload reads.
type counts struct {
	signals, replaced, expired, evicted, delivered float64
	waiters, rss, goroutines                       float64
	hasWaiters                                     bool // eventd exposes its waiter gauge
}

func (l *loader) metrics(ctx context.Context) (counts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.cfg.url+"/metrics", nil)
	if err != nil {
		return counts{}, err
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return counts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counts{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var c counts
	fields := map[string]*float64{
		"eventcoord_signals_total":                              &c.signals,
		`eventcoord_signal_outcomes_total{outcome="replaced"}`:  &c.replaced,
		`eventcoord_signal_outcomes_total{outcome="expired"}`:   &c.expired,
		`eventcoord_signal_outcomes_total{outcome="evicted"}`:   &c.evicted,
		`eventcoord_signal_outcomes_total{outcome="delivered"}`: &c.delivered,
		"eventd_waiters":                &c.waiters,
		"process_resident_memory_bytes": &c.rss,
		"go_goroutines":                 &c.goroutines,
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		c.hasWaiters = c.hasWaiters || line[:i] == "eventd_waiters"
		if p := fields[line[:i]]; p != nil {
			*p, _ = strconv.ParseFloat(line[i+1:], 64)
		}
	}
	return c, sc.Err()
}

// transportError names a failed request's cause without its URL, so that
// errors group by kind rather than by event name.
func transportError(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
