package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventcoord/eventcoord"
)

// Headers of eventd's additions to Anchor's answers. Anchor's SDKs read
// the body only, and an Anchor-shaped request gets the very answer it got
// before these were added (a golden test holds it): the wait's answer
// carries Eventcoord-Seq, as it always has, and the other headers go only
// to requests that ask for them.
const (
	// ExtensionsHeader, sent with any value by a request to Anchor's
	// routes, asks for eventd's extra answer headers: EventNameHeader and
	// SignaledAtHeader on a wait's 200, ErrorHeader on an error. Requests
	// to eventd's own routes get them anyway, and so does the 200 of a
	// wait that uses anyOf or fresh. Package client sends it.
	ExtensionsHeader = "Eventcoord-Extensions"
	// SeqHeader is the event's sequence number, on every wait's 200.
	SeqHeader = "Eventcoord-Seq"
	// EventNameHeader is the name of the event a wait returned (which name
	// fired, for a wait on several), percent-encoded as a path segment.
	EventNameHeader = "Eventcoord-Name"
	// SignaledAtHeader is when the event was signaled, in RFC 3339 with
	// nanoseconds, UTC.
	SignaledAtHeader = "Eventcoord-Signaled-At"
)

// extended reports whether r gets eventd's extra answer headers: it asked
// with ExtensionsHeader, or it is no request of Anchor's API (a POST to an
// event or to its wait; any path no route serves is left as it was too).
func extended(r *http.Request) bool {
	if r.Header.Get(ExtensionsHeader) != "" {
		return true
	}
	p := strings.TrimPrefix(r.Pattern, "/api")
	anchor := p == "" || p == routeUnknown ||
		(r.Method == http.MethodPost && (p == "/v1/events/{event_name}" || p == "/v1/events/{event_name}/wait"))
	return !anchor
}

// writeEvent answers a wait with its event: Anchor's body {"data": ...},
// Eventcoord-Seq, and with meta the event's name and signal time.
func writeEvent(w http.ResponseWriter, ev eventcoord.Event, meta bool) {
	h := w.Header()
	h.Set(SeqHeader, strconv.FormatUint(ev.Seq, 10))
	if meta {
		h.Set(EventNameHeader, url.PathEscape(ev.Name))
		if !ev.SignaledAt.IsZero() {
			h.Set(SignaledAtHeader, ev.SignaledAt.UTC().Format(time.RFC3339Nano))
		}
	}
	writeJSON(w, http.StatusOK, map[string]eventcoord.Data{"data": ev.Data})
}
