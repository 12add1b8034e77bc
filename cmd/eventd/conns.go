package main

import (
	"net"
	"net/http"
	"sync"
)

// connTracker counts the connections with a request in progress, so that
// shutdown can tell them from connections that were opened and never used.
// http.Transport dials such spares routinely, and http.Server.Shutdown waits
// up to 5 s for each before treating it as idle.
type connTracker struct {
	mu     sync.Mutex
	active map[net.Conn]struct{}
}

func newConnTracker() *connTracker {
	return &connTracker{active: make(map[net.Conn]struct{})}
}

// track is an http.Server ConnState hook.
func (t *connTracker) track(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s == http.StateActive {
		t.active[c] = struct{}{}
	} else {
		delete(t.active, c)
	}
}

// busy returns how many connections have a request in progress.
func (t *connTracker) busy() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.active)
}
