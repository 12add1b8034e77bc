package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventcoord/eventcoord"
)

// Defaults of a Handler made without options.
const (
	DefaultMaxWait     = 10 * time.Minute // ceiling on a wait's timeoutMs
	DefaultWait        = 60 * time.Second // Anchor's default timeoutMs
	DefaultMaxBody     = 1 << 20
	DefaultBodyTimeout = 30 * time.Second
)

// Handler is the http.Handler of the API. It is safe for concurrent use.
type Handler struct {
	scopes      func(scope string) eventcoord.Events
	keys        keyring
	maxWait     time.Duration
	maxBody     int64
	bodyTimeout time.Duration
	log         *slog.Logger
	health      func(context.Context) error
	metrics     *metrics
	limits      *limits
	mux         *http.ServeMux

	drain context.Context // done once Drain is called
	stop  context.CancelFunc
}

// An Option configures a Handler made by [New].
type Option func(*config)

type config struct {
	keys        []string
	maxWait     time.Duration
	maxBody     int64
	bodyTimeout time.Duration
	log         *slog.Logger
	registry    *prometheus.Registry
	stats       func() eventcoord.Stats
	health      func(context.Context) error

	maxWaitsPerKey   int     // see limits.go
	signalRatePerKey float64 // see limits.go
}

// WithKeys sets the accepted API keys, each its own scope. Without keys the
// handler runs in open mode: any non-empty key is accepted and is its own
// scope, which is only safe on loopback (cmd/eventd enforces that).
func WithKeys(keys []string) Option { return func(c *config) { c.keys = keys } }

// WithMaxWait sets the ceiling on a wait's timeoutMs (default
// DefaultMaxWait); a longer timeout is clamped to it.
func WithMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// WithMaxBody sets the largest accepted request body in bytes (default
// DefaultMaxBody); a larger one is answered with 413.
func WithMaxBody(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithBodyTimeout bounds the time a client may take to send its request
// body (default DefaultBodyTimeout), so trickling clients cannot hold the
// server.
func WithBodyTimeout(d time.Duration) Option { return func(c *config) { c.bodyTimeout = d } }

// WithLogger sets the logger; requests are logged at debug level. The
// default discards everything.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithRegistry sets the Prometheus registry the handler registers its
// metrics in and serves at /metrics. The default is a new registry with the
// Go and process collectors.
func WithRegistry(r *prometheus.Registry) Option { return func(c *config) { c.registry = r } }

// WithStats exposes a Coordinator's Stats in /metrics (waiters, retained
// events, signal outcomes).
func WithStats(f func() eventcoord.Stats) Option { return func(c *config) { c.stats = f } }

// WithHealth sets the check behind /healthz; an error makes it answer 503.
func WithHealth(f func(context.Context) error) Option { return func(c *config) { c.health = f } }

// New returns a Handler serving the events of scopes(scope), where scope is
// derived from the request's API key. For an in-process Coordinator c:
//
//	h := httpapi.New(func(scope string) eventcoord.Events { return c.Scope(scope).Events() })
func New(scopes func(scope string) eventcoord.Events, opts ...Option) *Handler {
	cfg := config{maxWait: DefaultMaxWait, maxBody: DefaultMaxBody, bodyTimeout: DefaultBodyTimeout, maxWaitsPerKey: DefaultMaxWaitsPerKey}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.registry == nil {
		cfg.registry = newRegistry()
	}
	h := &Handler{
		scopes:      scopes,
		keys:        newKeyring(cfg.keys),
		maxWait:     cfg.maxWait,
		maxBody:     cfg.maxBody,
		bodyTimeout: cfg.bodyTimeout,
		log:         cfg.log,
		health:      cfg.health,
		metrics:     newMetrics(cfg.registry, cfg.stats),
		limits:      newLimits(cfg, cfg.registry),
		mux:         http.NewServeMux(),
	}
	h.drain, h.stop = context.WithCancel(context.Background())

	for _, prefix := range []string{"", "/api"} {
		h.mux.Handle(prefix+"/v1/events/{event_name}", h.events(h.limits.signal, h.signal))
		h.mux.Handle(prefix+"/v1/events/{event_name}/wait", h.events(h.limits.wait, h.wait))
	}
	h.mux.Handle("/healthz", method(http.MethodGet, http.HandlerFunc(h.healthz)))
	h.mux.Handle("/metrics", method(http.MethodGet, promhttp.HandlerFor(cfg.registry, promhttp.HandlerOpts{})))
	h.mux.Handle("/openapi.json", method(http.MethodGet, http.HandlerFunc(serveOpenAPI))) // openapi.go
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "Not found"))
	})
	return h
}

// Open reports whether the handler runs in open mode (no keys configured).
func (h *Handler) Open() bool { return h.keys.open() }

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	body := track(r)
	route := routeUnknown
	if canonical(r) {
		h.mux.ServeHTTP(rec, r)
		route = routeLabel(r.Pattern) // set by the mux: one of the patterns registered in New
	} else { // the mux would redirect, with an empty body
		writeError(rec, errorf(http.StatusNotFound, msgNotCanonical))
	}
	elapsed := time.Since(start)
	// Every label comes from a fixed set: no client can add series.
	h.metrics.duration.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(rec.status)).Observe(elapsed.Seconds())
	h.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
		slog.String("method", r.Method), slog.String("route", route),
		slog.String("event", r.PathValue("event_name")), slog.Int("status", rec.status),
		slog.Duration("duration", elapsed), slog.String("remote", r.RemoteAddr))
	h.linger(w, r, body)
}

// Drain answers every pending wait, and every wait that arrives later, with
// 503, so that a graceful shutdown need not wait for long polls. Signals
// are still served. Drain is idempotent; register it with
// http.Server.RegisterOnShutdown.
func (h *Handler) Drain() { h.stop() }

// events wraps an event endpoint: POST only, then the API key, then the
// key's limits (admit answers 429 itself, or returns what to release once
// the request is served).
func (h *Handler) events(admit func(http.ResponseWriter, string) (func(), bool), serve func(http.ResponseWriter, *http.Request, eventcoord.Events)) http.Handler {
	return method(http.MethodPost, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope, ok := h.keys.scope(r.Header.Get(keyHeader))
		if !ok {
			writeError(w, errorf(http.StatusUnauthorized, msgInvalidKey))
			return
		}
		release, ok := admit(w, scope)
		if !ok {
			return
		}
		defer release()
		serve(w, r, h.scopes(scope))
	}))
}

// method answers requests of any other method with a JSON 405.
func method(m string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && !(m == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", m)
			shown := r.Method
			if methodLabel(shown) == "other" { // not echoed: it may be anything, of any length
				shown = "other than " + m
			}
			writeError(w, errorf(http.StatusMethodNotAllowed, "Method "+shown+" is not allowed; use "+m))
			return
		}
		next.ServeHTTP(w, r)
	})
}

type signalResult struct {
	Status   string `json:"status"`
	Woken    int    `json:"woken"`
	Retained bool   `json:"retained"`
	Seq      uint64 `json:"seq"`
}

func (h *Handler) signal(w http.ResponseWriter, r *http.Request, events eventcoord.Events) {
	name := r.PathValue("event_name")
	body, apiErr := readBody(w, r, h.maxBody, h.bodyTimeout)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	data, apiErr := decodeSignal(body)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	rec, err := events.Signal(r.Context(), name, data)
	if err != nil {
		writeError(w, backendError(err, msgSignalFailed))
		return
	}
	outcome := "dropped"
	switch {
	case rec.Woken > 0:
		outcome = "woken"
	case rec.Retained:
		outcome = "retained"
	}
	h.metrics.signals.WithLabelValues(outcome).Inc()
	writeJSON(w, http.StatusOK, map[string]signalResult{"data": {
		Status: "signaled", Woken: rec.Woken, Retained: rec.Retained, Seq: rec.Seq,
	}})
}

// backendError maps an error of Events.Signal or Events.Wait to its
// answer; failed is the message of a failure it does not know.
func backendError(err error, failed string) *apiError {
	switch {
	case errors.Is(err, eventcoord.ErrInvalidName):
		return errorf(http.StatusBadRequest, "Invalid event name: "+reason(err))
	case errors.Is(err, eventcoord.ErrDataRequired):
		return errorf(http.StatusBadRequest, msgDataRequired)
	case errors.Is(err, eventcoord.ErrClosed):
		return errorf(http.StatusServiceUnavailable, msgShuttingDown)
	case errors.Is(err, eventcoord.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, failed+": the event store is unavailable")
	}
	return errorf(http.StatusInternalServerError, failed)
}

// reason returns what an ErrInvalidName error says beyond the sentinel.
func reason(err error) string {
	msg, prefix := err.Error(), eventcoord.ErrInvalidName.Error()+": "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}

var (
	errWaitTimeout = errors.New("wait timed out")
	errDraining    = errors.New("server draining")
)

func (h *Handler) wait(w http.ResponseWriter, r *http.Request, events eventcoord.Events) {
	name := r.PathValue("event_name")
	body, apiErr := readBody(w, r, h.maxBody, h.bodyTimeout)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	timeout, apiErr := decodeWaitTimeout(body, DefaultWait, h.maxWait)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}

	ctx, cancel := context.WithCancelCause(r.Context()) // ends when the client goes away
	defer cancel(nil)
	stopDrain := context.AfterFunc(h.drain, func() { cancel(errDraining) })
	defer stopDrain()
	live := ctx // ends when the client leaves or on Drain, but not by the timeout
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
	defer cancelTimeout()

	ev, err := waitOrPoll(live, ctx, events, name, timeout)
	if err == nil {
		h.metrics.waits.WithLabelValues("event").Inc()
		w.Header().Set("Eventcoord-Seq", strconv.FormatUint(ev.Seq, 10))
		writeJSON(w, http.StatusOK, map[string]eventcoord.Data{"data": ev.Data})
		return
	}
	outcome, answer := "error", backendError(err, "Failed to wait for event")
	switch cause := context.Cause(ctx); {
	case errors.Is(err, eventcoord.ErrClosed), errors.Is(cause, errDraining), h.drain.Err() != nil:
		outcome, answer = "shutdown", errorf(http.StatusServiceUnavailable, msgShuttingDown)
	case errors.Is(err, eventcoord.ErrInvalidName):
	case errors.Is(cause, errWaitTimeout):
		outcome, answer = "timeout", errorf(http.StatusRequestTimeout, msgTimeout)
	case r.Context().Err() != nil:
		// net/http ends the request's context when it reads the end of the
		// client's side of the connection: a disconnect, or a half-close
		// (shutdown(SHUT_WR), nc -N), which only a write and the client's
		// reset could tell apart (golang/go#18527). The waiter has left,
		// so no event goes to a client that may be gone (S3); the answer,
		// never a 200, is for a client that still reads.
		outcome, answer = "cancelled", errorf(StatusClientClosed, msgClientClosed)
	}
	h.metrics.waits.WithLabelValues(outcome).Inc()
	writeError(w, answer)
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	if h.health != nil {
		if err := h.health(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// statusRecorder remembers the status a handler wrote, for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
