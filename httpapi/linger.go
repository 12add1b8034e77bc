package httpapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"
)

// Bounds of the lingering close: after answering a request whose body it
// did not read to the end (413, 401, 415...), the handler reads and
// discards at most lingerBytes more of it for at most lingerTime.
//
// A client that sends its whole body before it reads the answer (Node's
// http module does, for a body with a Content-Length and no
// "Expect: 100-continue") would otherwise meet a closed connection: closing
// a socket with unread data sends a reset, and the reset makes the client's
// system drop the answer it had not read yet. RFC 9112, section 9.6, asks
// servers to keep reading for that reason; the bounds stop a client from
// making the server read without end.
const (
	lingerBytes = 32 << 20
	lingerTime  = 5 * time.Second
)

// bodyTracker remembers how reading a request body ended.
type bodyTracker struct {
	io.ReadCloser
	err error // the first error of a Read: io.EOF once the body was read to its end
}

func (b *bodyTracker) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}

// track replaces r.Body by a bodyTracker and returns it.
func track(r *http.Request) *bodyTracker {
	b := &bodyTracker{ReadCloser: r.Body}
	r.Body = b
	return b
}

// linger sends the answer written to w, then reads and discards what is
// left of a body that was not read to its end, within lingerBytes and
// lingerTime, and until Drain. It does nothing for a request without a
// body, a body that was read to its end or failed, and a request that
// asked to be told to go on (Expect: 100-continue): that client has not
// sent its body and, told no, will not.
func (h *Handler) linger(w http.ResponseWriter, r *http.Request, body *bodyTracker) {
	if r.ContentLength == 0 || body.err != nil || strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(lingerTime))
	stop := context.AfterFunc(h.drain, func() { _ = rc.SetReadDeadline(time.Now()) })
	defer stop()
	_, _ = io.CopyN(io.Discard, body.ReadCloser, lingerBytes)
}
