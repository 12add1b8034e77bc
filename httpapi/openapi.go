package httpapi

import (
	_ "embed" // the OpenAPI document
	"net/http"
	"strconv"
)

// OpenAPI is the OpenAPI 3.1 document of the API the Handler serves, JSON
// encoded: Anchor's two event operations and eventd's own event routes
// (all also under /api), eventd's extra fields, headers and statuses,
// /healthz, /metrics and /openapi.json, where the Handler serves it. The tests check it against what the Handler
// answers. It must not be modified.
//
//go:embed openapi.json
var OpenAPI []byte

// serveOpenAPI answers GET /openapi.json with [OpenAPI].
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(OpenAPI)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(OpenAPI) // the client may be gone; nothing to do about it
	}
}
