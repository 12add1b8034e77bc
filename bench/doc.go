// Package bench compares eventcoord with the Go runtime's primitives and
// with peer libraries (cskr/pubsub, Watermill's gochannel, an embedded NATS
// server, Redis pub/sub) on the same workloads, measured side by side in
// one run. It is a module of its own, so that the peers never enter the
// main module's dependencies.
//
// Run the suite and write docs/benchmarks.md and docs/benchmarks.svg with
//
//	cd bench && go run ./cmd/report -count 6
package bench
