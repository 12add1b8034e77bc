// Package httpapi serves event coordination over HTTP exactly as Anchor
// Browser's Event Coordination API does, so Anchor's SDKs and any code
// written for the hosted API work against it by changing the base URL.
//
// Routes, each also under the /api prefix:
//
//	POST /v1/events/{event_name}        body {"data": {...}}    -> 200 {"data": {"status": "signaled", ...}}
//	POST /v1/events/{event_name}/wait   body {"timeoutMs": N}   -> 200 {"data": {...}} or 408
//
// plus GET /healthz and GET /metrics (Prometheus text format). A wait with
// timeoutMs 0 is a poll: the retained event, or 408 at once. A wait whose
// client closed its side of the connection first is answered (and counted)
// [StatusClientClosed]. Every answer is JSON, every error has the body
// {"error": {"code": <status>, "message": <text>}}, and paths are served as
// sent, never redirected.
//
// Requests authenticate with the header anchor-api-key. Each key is its own
// scope: no key ever sees another key's events. Keys are compared in
// constant time and never logged or used as metric labels.
package httpapi
