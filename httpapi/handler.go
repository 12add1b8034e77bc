package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventcoord/eventcoord"
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
	waiters     *waiterSet // registrations made through POST /v1/waiters
	mux         *http.ServeMux

	drain context.Context // done once Drain is called
	stop  context.CancelFunc
}

// New returns a Handler serving the events of scopes(scope), where scope is
// derived from the request's API key. For an in-process Coordinator c:
//
//	h := httpapi.New(func(scope string) eventcoord.Events { return c.Scope(scope).Events() })
func New(scopes func(scope string) eventcoord.Events, opts ...Option) *Handler {
	cfg := config{maxWait: DefaultMaxWait, maxBody: DefaultMaxBody, bodyTimeout: DefaultBodyTimeout, maxWaitsPerKey: DefaultMaxWaitsPerKey}
	for _, o := range opts {
		o.apply(&cfg)
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
	h.waiters = newWaiterSet(func(outcome string) { h.metrics.registrations.WithLabelValues(outcome).Inc() })
	registerWaiterGauge(cfg.registry, h.waiters)
	h.drain, h.stop = context.WithCancel(context.Background())

	// Anchor's two routes, then eventd's own: none is a path Anchor's
	// routes serve (POST /v1/events/wait signals the event "wait").
	for _, prefix := range []string{"", "/api"} {
		h.mux.Handle(prefix+"/v1/events/{event_name}", methods{
			{http.MethodPost, h.keyed(h.limits.signal, h.signal)},
			{http.MethodDelete, h.keyed(h.limits.store, h.clear)}, // clear.go
		})
		h.mux.Handle(prefix+"/v1/events/{event_name}/wait", methods{{http.MethodPost, h.keyed(h.limits.wait, h.wait)}})
		h.mux.Handle(prefix+"/v1/events", methods{{http.MethodGet, h.keyed(h.limits.store, h.list)}}) // list.go
		// register.go: the registration holds the key's wait slot itself.
		h.mux.Handle(prefix+"/v1/waiters", methods{{http.MethodPost, h.keyed(nil, h.register)}})
		h.mux.Handle(prefix+"/v1/waiters/{id}", methods{
			{http.MethodGet, h.keyed(nil, h.peek)},
			{http.MethodDelete, h.keyed(nil, h.cancel)},
		})
		h.mux.Handle(prefix+"/v1/waiters/{id}/wait", methods{{http.MethodPost, h.keyed(nil, h.waitOn)}})
	}
	h.mux.Handle("/healthz", methods{{http.MethodGet, http.HandlerFunc(h.healthz)}})
	h.mux.Handle("/metrics", methods{{http.MethodGet, promhttp.HandlerFor(cfg.registry, promhttp.HandlerOpts{})}})
	h.mux.Handle("/openapi.json", methods{{http.MethodGet, http.HandlerFunc(serveOpenAPI)}}) // openapi.go
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusNotFound, "Not found"))
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
		writeError(rec, r, errorf(http.StatusNotFound, msgNotCanonical))
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
// 503, so that a graceful shutdown need not wait for long polls (a pending
// wait that an event reaches as it leaves answers the event: delivery
// wins, S3); it cancels every registration made through POST /v1/waiters,
// which gives back the events they hold (S3), and refuses new ones.
// Signals are still served. Drain is idempotent; register it with
// http.Server.RegisterOnShutdown.
func (h *Handler) Drain() {
	h.stop()
	h.waiters.drain()
}

// admitFunc applies a per-key limit to a request of scope: it answers 429
// itself, or returns what to release once the request is served.
type admitFunc func(w http.ResponseWriter, r *http.Request, scope string) (release func(), ok bool)

// scopedFunc serves a request of an API key's scope.
type scopedFunc func(w http.ResponseWriter, r *http.Request, scope string, events eventcoord.Events)

// keyed wraps a route of a key's events: the API key first, then the key's
// limit admit (none if nil).
func (h *Handler) keyed(admit admitFunc, serve scopedFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope, ok := h.keys.scope(r.Header.Get(keyHeader))
		if !ok {
			writeError(w, r, errorf(http.StatusUnauthorized, msgInvalidKey))
			return
		}
		if admit != nil {
			release, ok := admit(w, r, scope)
			if !ok {
				return
			}
			defer release()
		}
		serve(w, r, scope, h.scopes(scope))
	})
}

// methods serves a route by method, in the order given (a GET serves HEAD
// too), and answers any other method with a JSON 405 naming them in Allow.
type methods []struct {
	method  string
	handler http.Handler
}

func (ms methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, m := range ms {
		if r.Method == m.method || (m.method == http.MethodGet && r.Method == http.MethodHead) {
			m.handler.ServeHTTP(w, r)
			return
		}
	}
	names := make([]string, len(ms))
	allow := make([]string, 0, len(ms)+1)
	for i, m := range ms {
		names[i] = m.method
		allow = append(allow, m.method)
		if m.method == http.MethodGet {
			allow = append(allow, http.MethodHead) // served too: Allow lists what is (RFC 9110, 10.2.1)
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	shown := r.Method
	if methodLabel(shown) == "other" { // not echoed: it may be anything, of any length
		shown = "other than " + strings.Join(names, " or ")
	}
	writeError(w, r, errorf(http.StatusMethodNotAllowed, "Method "+shown+" is not allowed; use "+strings.Join(names, " or ")))
}

type signalResult struct {
	Status   string `json:"status"`
	Woken    int    `json:"woken"`
	Retained bool   `json:"retained"`
	Seq      uint64 `json:"seq"`
}

func (h *Handler) signal(w http.ResponseWriter, r *http.Request, _ string, events eventcoord.Events) {
	name := r.PathValue("event_name")
	body, apiErr := readBody(w, r, h.maxBody, h.bodyTimeout)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	data, apiErr := decodeSignal(body)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	rec, err := events.Signal(r.Context(), name, data)
	if err != nil {
		writeError(w, r, backendError(err, msgSignalFailed))
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

// Causes that end a wait's context.
var (
	errWaitTimeout = errors.New("wait timed out")
	errDraining    = errors.New("server draining")
	errWaiterGone  = errors.New("the registration left the server")
)

// waitScope holds the contexts of a wait: live ends when the client
// leaves, on Drain (cause errDraining) and when the registration waited on
// leaves, if any (cause errWaiterGone); ctx also ends at the wait's
// timeout (cause errWaitTimeout). Call end when the wait is over.
type waitScope struct {
	live, ctx     context.Context
	cancelLive    context.CancelCauseFunc
	cancelTimeout context.CancelFunc
	stopDrain     func() bool
	stopGone      func() bool // nil without a registration
}

// waitContext returns the waitScope of a wait of r that lasts timeout;
// gone, if not nil, ends when the registration waited on leaves.
func (h *Handler) waitContext(r *http.Request, timeout time.Duration, gone context.Context) waitScope {
	live, cancelLive := context.WithCancelCause(r.Context()) // ends when the client goes away
	s := waitScope{live: live, cancelLive: cancelLive}
	s.stopDrain = context.AfterFunc(h.drain, func() { cancelLive(errDraining) })
	if gone != nil {
		s.stopGone = context.AfterFunc(gone, func() { cancelLive(errWaiterGone) })
	}
	s.ctx, s.cancelTimeout = context.WithTimeoutCause(live, timeout, errWaitTimeout)
	return s
}

func (s *waitScope) end() {
	s.cancelTimeout()
	if s.stopGone != nil {
		s.stopGone()
	}
	s.stopDrain()
	s.cancelLive(nil)
}

// waitEnded returns the outcome (for eventd_waits_total) and the answer of
// a wait of r whose context was ctx that ended with err; failed is the
// message of a failure of the backend.
func (h *Handler) waitEnded(r *http.Request, ctx context.Context, err error, failed string) (string, *apiError) {
	outcome, answer := "error", backendError(err, failed)
	switch cause := context.Cause(ctx); {
	case errors.Is(err, eventcoord.ErrClosed), errors.Is(cause, errDraining), h.drain.Err() != nil:
		outcome, answer = "shutdown", shuttingDown()
	case errors.Is(err, eventcoord.ErrInvalidName), errors.Is(err, eventcoord.ErrTooManyNames):
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
	return outcome, answer
}

func (h *Handler) wait(w http.ResponseWriter, r *http.Request, _ string, events eventcoord.Events) {
	name := r.PathValue("event_name")
	body, apiErr := readBody(w, r, h.maxBody, h.bodyTimeout)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	req, apiErr := decodeWait(body, name, DefaultWait, h.maxWait)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	ws := h.waitContext(r, req.timeout, nil)
	defer ws.end()
	ctx := ws.ctx
	ev, err := waitOrPoll(ws.live, ctx, events, name, req)
	if err == nil {
		h.metrics.waits.WithLabelValues("event").Inc()
		// A wait on several names, or a fresh one, is eventd's own: its
		// answer says which name fired and when, asked or not.
		writeEvent(w, ev, extended(r) || len(req.anyOf) > 0 || req.fresh)
		return
	}
	outcome, answer := h.waitEnded(r, ctx, err, "Failed to wait for event")
	h.metrics.waits.WithLabelValues(outcome).Inc()
	writeError(w, r, answer)
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
