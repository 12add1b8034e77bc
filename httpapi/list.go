package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/eventcoord/eventcoord"
)

// listing is the answer to GET /v1/events: one page of the key's names
// that hold state, and the key's totals.
type listing struct {
	Names []nameState `json:"names"`
	Next  string      `json:"next"` // the after of the next page; "" on the last
	Scope scopeStats  `json:"scope"`
}

type nameState struct {
	Name       string `json:"name"`
	Waiters    int    `json:"waiters"`
	Retained   bool   `json:"retained"`
	Seq        uint64 `json:"seq,omitempty"`        // of the retained event
	SignaledAt string `json:"signaledAt,omitempty"` // of the retained event, RFC 3339 with nanoseconds
	Size       int64  `json:"size,omitempty"`       // of the retained event's data, in bytes of JSON
}

type scopeStats struct {
	Names         int   `json:"names"`
	Waiters       int   `json:"waiters"`
	Retained      int   `json:"retained"`
	RetainedBytes int64 `json:"retainedBytes"`
}

// list serves GET /v1/events?after=NAME&limit=N: the names of the key's
// scope that have waiters or a retained event, after the name after in
// bytewise order, at most limit of them (0 or absent: the default; capped
// at eventcoord.MaxListLimit).
func (h *Handler) list(w http.ResponseWriter, r *http.Request, _ string, events eventcoord.Events) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, r, errorf(http.StatusBadRequest, "The query string is not valid: "+err.Error()))
		return
	}
	opts, apiErr := parseListQuery(q)
	if apiErr != nil {
		writeError(w, r, apiErr)
		return
	}
	l, err := events.List(r.Context(), opts)
	if err != nil {
		writeError(w, r, backendError(err, "Failed to list events"))
		return
	}
	out := listing{Names: make([]nameState, len(l.Names)), Next: l.Next, Scope: scopeStats(l.Scope)}
	for i, n := range l.Names {
		out.Names[i] = nameState{Name: n.Name, Waiters: n.Waiters, Retained: n.Retained}
		if n.Retained {
			out.Names[i].Seq, out.Names[i].Size = n.Seq, n.Size
			if !n.SignaledAt.IsZero() {
				out.Names[i].SignaledAt = n.SignaledAt.UTC().Format(time.RFC3339Nano)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]listing{"data": out})
}
