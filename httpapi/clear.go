package httpapi

import (
	"net/http"

	"github.com/eventcoord/eventcoord"
)

// clear serves DELETE /v1/events/{event_name}: the event retained for the
// name is removed, and the answer says whether there was one, as
// {"data": {"cleared": true}}. Waiters are left alone.
func (h *Handler) clear(w http.ResponseWriter, r *http.Request, _ string, events eventcoord.Events) {
	cleared, err := events.Clear(r.Context(), r.PathValue("event_name"))
	if err != nil {
		writeError(w, r, backendError(err, "Failed to clear event"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]map[string]bool{"data": {"cleared": cleared}})
}
