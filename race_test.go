//go:build race

package eventcoord_test

// raceEnabled is set under the race detector, which makes sync.Pool drop a
// quarter of what it is given, on purpose: counts of allocations that the
// pool saves are higher there.
const raceEnabled = true
