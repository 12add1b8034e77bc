package chaos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildEventd builds cmd/eventd once into a temporary directory and returns
// the binary's path.
func buildEventd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eventd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/eventcoord/eventcoord/cmd/eventd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/eventd: %v\n%s", err, out)
	}
	return bin
}

// replica is one eventd process, which the nemesis may kill and start
// again on the same port.
type replica struct {
	idx   int
	bin   string
	redis string
	addr  string // 127.0.0.1:port
	url   string // http://addr
	log   string // the file its output is appended to

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// newReplica picks a free loopback port for replica idx.
func newReplica(idx int, bin, redisURL, dir string) (*replica, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	return &replica{idx: idx, bin: bin, redis: redisURL, addr: addr, url: "http://" + addr,
		log: filepath.Join(dir, fmt.Sprintf("eventd-r%d.log", idx))}, nil
}

// start runs the process and polls /healthz until it answers 200, or
// fails after a deadline or if the process exits.
func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return fmt.Errorf("r%d is already running", r.idx)
	}
	out, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	fmt.Fprintf(out, "=== chaos: starting r%d at %s\n", r.idx, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "-redis", r.redis, "-api-keys", strings.Join(keys, ","),
		"-addr", r.addr, "-retention", "10m")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting eventd r%d: %w", r.idx, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done

	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get(r.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-done:
			r.cmd = nil
			return fmt.Errorf("eventd r%d exited at start: %v\n%s", r.idx, cmd.ProcessState, r.tail(10))
		default:
		}
		if time.Now().After(deadline) {
			r.killLocked()
			return fmt.Errorf("eventd r%d not healthy after 15s: %w", r.idx, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness
	}
}

// kill stops the process at once (SIGKILL), as a crash would.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killLocked()
}

func (r *replica) killLocked() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// running reports whether the process is up.
func (r *replica) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil
}

// tail returns the last n lines of the replica's log.
func (r *replica) tail(n int) string {
	b, err := os.ReadFile(r.log)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startReplicas starts n eventd processes on redisURL and kills them when
// the test ends.
func startReplicas(t *testing.T, bin, redisURL string, n int) []*replica {
	t.Helper()
	dir := t.TempDir()
	rs := make([]*replica, n)
	for i := range rs {
		r, err := newReplica(i, bin, redisURL, dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.kill)
		rs[i] = r
	}
	return rs
}

// healthy reports whether r answers /healthz with 200 within a second.
func healthy(ctx context.Context, hc *http.Client, r *replica) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
