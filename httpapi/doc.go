// Package httpapi serves event coordination over HTTP exactly as Anchor
// Browser's Event Coordination API does, so Anchor's SDKs and any code
// written for the hosted API work against it by changing the base URL,
// and adds what [eventcoord.Events] offers beyond Anchor's two operations
// where Anchor's requests never meet it.
//
// Anchor's routes, each also under the /api prefix:
//
//	POST /v1/events/{event_name}        body {"data": {...}}    -> 200 {"data": {"status": "signaled", ...}}
//	POST /v1/events/{event_name}/wait   body {"timeoutMs": N}   -> 200 {"data": {...}} or 408
//
// A wait with timeoutMs 0 is a poll: the retained event, or 408 at once. A
// wait whose client closed its side of the connection first is answered
// (and counted) [StatusClientClosed]. eventd's additions, also under /api:
//
//	POST   /v1/events/{event_name}/wait  body also {"anyOf": [names], "fresh": true}: any-of and fresh-only waits
//	DELETE /v1/events/{event_name}       -> 200 {"data": {"cleared": bool}}: Events.Clear
//	GET    /v1/events?after=&limit=      -> 200 {"data": {"names": [...], "next", "scope"}}: Events.List
//	POST   /v1/waiters                   body {"name", "anyOf", "fresh", "leaseMs"} -> 200 {"data": {"id", ...}}: Events.Register
//	GET    /v1/waiters/{id}?timeoutMs=N  -> 200 {"data": {"id", "ready"}}: Registration.Done, as a long poll
//	POST   /v1/waiters/{id}/wait         body {"timeoutMs", "cancelOnTimeout"} -> the event, as a wait's: Registration.Wait
//	DELETE /v1/waiters/{id}              -> 200: Registration.Cancel
//
// A wait's 200 carries [SeqHeader]; it carries [EventNameHeader] (which
// name fired) and [SignaledAtHeader] too, and an error [ErrorHeader], when
// the request sends [ExtensionsHeader] or uses eventd's routes or fields.
// Anchor's requests get the very answers they always got.
//
// A registration (POST /v1/waiters) is an eventcoord.Registration the
// server holds for its client under an unguessable id, scoped to the key:
// a signal sent any time after the answer reaches it. It counts as a wait
// of its key until a wait takes its event, DELETE cancels it, Drain ends
// it, or no request was in progress on it for its lease ([DefaultLease]):
// then it is cancelled, which gives back an event it holds (S3). It lives
// in the process that made it. The OpenAPI document ([OpenAPI], served at
// /openapi.json) describes every route, field, header and status.
//
// Plus GET /healthz and GET /metrics (Prometheus text format). Every answer
// is JSON, every error has the body {"error": {"code": <status>,
// "message": <text>}}, and paths are served as sent, never redirected.
//
// Requests authenticate with the header anchor-api-key. Each key is its own
// scope: no key ever sees another key's events or registrations. Keys are
// compared in constant time and never logged or used as metric labels.
package httpapi
