package httpapi

import "strings"

// RequestsOn returns the number of requests in progress on the
// registration at path (.../v1/waiters/{id}), for tests that must know they
// are all in place without taking a place themselves.
func RequestsOn(h *Handler, path string) int {
	id := path[strings.LastIndex(path, "/")+1:]
	h.waiters.mu.Lock()
	defer h.waiters.mu.Unlock()
	if w := h.waiters.byID[id]; w != nil {
		return w.busy
	}
	return 0
}
