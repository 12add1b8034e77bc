package httpapi

import (
	"net/http"
	"path"
)

// methodLabel returns the method label of a request's metrics: the method
// if it is one of HTTP's own, else "other", so that no client can add
// series by inventing methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// routeUnknown is the route label of every request no route serves.
const routeUnknown = "/"

// routeLabel returns the route label of a request the mux served: its
// pattern, one of those registered in New (the catch-all "/" for unknown
// paths).
func routeLabel(pattern string) string {
	if pattern == "" {
		return routeUnknown
	}
	return pattern
}

// canonical reports whether the request's path, as sent, is one that
// http.ServeMux would serve rather than redirect: absolute, without empty,
// "." or ".." segments. Percent-encoded dots are not dot segments, so the
// event names "." and ".." are reached as %2E and %2E%2E.
func canonical(r *http.Request) bool {
	p := r.URL.EscapedPath()
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean == p
}
