package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Per-key limits (S10): what one API key does may refuse or slow only that
// key's own requests, never another key's. A request beyond a limit is
// answered 429 Too Many Requests with a Retry-After header and the usual
// error body, and counted in eventd_refused_total by reason.

// DefaultMaxWaitsPerKey is the default bound on the waits in progress per
// API key (see WithMaxWaitsPerKey).
const DefaultMaxWaitsPerKey = 10_000

// Reasons for a 429, the values of eventd_refused_total's reason label.
const (
	refusedWaits  = "waits_per_key"
	refusedSignal = "signal_rate_per_key"
	refusedWaiter = "requests_per_waiter"
)

// WithMaxWaitsPerKey bounds the waits in progress per API key (default
// DefaultMaxWaitsPerKey), counting each registration made through
// POST /v1/waiters as a wait until it ends: a wait or registration beyond
// it is answered 429 Too Many Requests with Retry-After: 1. Zero or less
// removes the bound.
func WithMaxWaitsPerKey(n int) Option { return optionFunc(func(c *config) { c.maxWaitsPerKey = n }) }

// WithSignalRatePerKey limits each API key to perSecond signals, clears
// and lists together per second on average, in bursts of up to a second's
// worth (at least one): a request beyond it is answered 429 Too Many
// Requests with a Retry-After header that says when the next one is
// allowed. Zero or less, the default, removes the limit.
func WithSignalRatePerKey(perSecond float64) Option {
	return optionFunc(func(c *config) { c.signalRatePerKey = perSecond })
}

// limits keeps the per-key limits. Its state per key lives only while it
// matters: a key's wait count while it has waits in progress, its rate
// limiter until the limiter is full again, which is the state a new one
// starts in. The limiters are swept when their number has doubled or a
// refill time has passed since the last sweep, so the work is O(1) per
// request on average and an idle key's state goes away with the next
// sweep.
type limits struct {
	maxWaits int        // 0: no bound
	rate     rate.Limit // 0: no limit
	burst    int
	refill   time.Duration    // time for an empty limiter to fill up
	now      func() time.Time // the clock of the limiters, replaceable in tests
	refused  *prometheus.CounterVec

	mu        sync.Mutex
	waits     map[string]int           // waits in progress per scope, none at 0; guarded by mu
	limiters  map[string]*rate.Limiter // per scope, none when full; guarded by mu
	swept     time.Time                // last sweep; guarded by mu
	sweepSize int                      // sweep once limiters holds this many; guarded by mu
}

// minSweepSize is the number of rate limiters kept before sweeping early.
const minSweepSize = 64

func newLimits(cfg config, reg prometheus.Registerer) *limits {
	l := &limits{
		maxWaits:  max(cfg.maxWaitsPerKey, 0),
		now:       time.Now,
		waits:     make(map[string]int),
		limiters:  make(map[string]*rate.Limiter),
		sweepSize: minSweepSize,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventd_refused_total",
			Help: "Requests answered 429 Too Many Requests, by reason: waits_per_key (too many waits and registrations in progress for the key), signal_rate_per_key (the key's rate of signals, clears and lists), requests_per_waiter (too many requests in progress on one registration).",
		}, []string{"reason"}),
	}
	if r := cfg.signalRatePerKey; r > 0 && !math.IsInf(r, 1) {
		l.rate, l.burst = rate.Limit(r), int(min(max(math.Ceil(r), 1), math.MaxInt32))
		l.refill = time.Duration(min(float64(l.burst)/r*float64(time.Second), math.MaxInt64/2))
	}
	for _, reason := range []string{refusedWaits, refusedSignal, refusedWaiter} {
		l.refused.WithLabelValues(reason)
	}
	reg.MustRegister(l.refused)
	return l
}

// noop is the release of a request that holds nothing.
func noop() {}

// wait admits a wait or a registration of scope, or answers it 429. If
// admitted, the caller calls release when the wait has ended.
func (l *limits) wait(w http.ResponseWriter, r *http.Request, scope string) (release func(), ok bool) {
	if l.maxWaits == 0 {
		return noop, true
	}
	l.mu.Lock()
	n := l.waits[scope]
	if n >= l.maxWaits {
		l.mu.Unlock()
		l.refuse(w, r, refusedWaits, time.Second,
			fmt.Sprintf("Too many waits in progress for this API key (the limit is %d)", l.maxWaits))
		return nil, false
	}
	l.waits[scope] = n + 1
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		if n := l.waits[scope] - 1; n > 0 {
			l.waits[scope] = n
		} else {
			delete(l.waits, scope)
		}
		l.mu.Unlock()
	}, true
}

// signal admits a signal of scope, or answers it 429.
func (l *limits) signal(w http.ResponseWriter, r *http.Request, scope string) (release func(), ok bool) {
	return l.rated(w, r, scope, "signals")
}

// store admits a clear or a list of scope, which share the signals' rate,
// or answers it 429.
func (l *limits) store(w http.ResponseWriter, r *http.Request, scope string) (release func(), ok bool) {
	return l.rated(w, r, scope, "signals, clears and lists")
}

// rated admits a request of scope under the key's rate limit, or answers
// it 429 naming what the limit counts.
func (l *limits) rated(w http.ResponseWriter, r *http.Request, scope, what string) (release func(), ok bool) {
	if l.rate == 0 {
		return noop, true
	}
	now := l.now()
	l.mu.Lock()
	lim := l.limiters[scope]
	if lim == nil {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.limiters[scope] = lim
	}
	res := lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay > 0 {
		res.CancelAt(now) // a refused signal costs the key nothing
	}
	l.sweep(now)
	l.mu.Unlock()
	if delay > 0 {
		l.refuse(w, r, refusedSignal, delay,
			fmt.Sprintf("Too many %s for this API key (the limit is %s per second)", what, strconv.FormatFloat(float64(l.rate), 'g', -1, 64)))
		return nil, false
	}
	return noop, true
}

// sweep forgets the limiters that are full again, when they have become
// many or a refill time has passed since the last sweep. Call it with l.mu
// held.
func (l *limits) sweep(now time.Time) {
	if len(l.limiters) < l.sweepSize && now.Sub(l.swept) < max(l.refill, time.Second) {
		return
	}
	for scope, lim := range l.limiters {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.limiters, scope)
		}
	}
	l.swept = now
	l.sweepSize = max(2*len(l.limiters), minSweepSize)
}

// keys returns how many keys the limits hold state for, for tests.
func (l *limits) keys() (waits, limiters int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waits), len(l.limiters)
}

// refuse answers 429 with Retry-After (whole seconds, at least 1) and
// counts the refusal.
func (l *limits) refuse(w http.ResponseWriter, r *http.Request, reason string, retryAfter time.Duration, message string) {
	l.refused.WithLabelValues(reason).Inc()
	secs := max(int64(math.Ceil(retryAfter.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, r, errorf(http.StatusTooManyRequests, message+": retry after "+strconv.FormatInt(secs, 10)+" s"))
}
