// Package redistest runs a real redis-server on a free loopback port for
// tests.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server started for one test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	opts Options
	Addr string // host:port

	mu  sync.Mutex // guards cmd, so a test's goroutines may kill and restart the server
	cmd *exec.Cmd
}

// Options configure a server started by [StartWith]. The zero value is what
// [Start] uses.
type Options struct {
	// Fsync is the append-only file's fsync policy: "everysec" (the
	// default), "always" (every write is on disk before Redis answers it) or
	// "no".
	Fsync string
	// Ephemeral runs Redis without any persistence: a restart comes back
	// empty.
	Ephemeral bool
	// Debug enables the DEBUG command, which Redis 7 and later refuse by
	// default, so that [Server.Stall] works.
	Debug bool
}

// Start starts redis-server with append-only persistence (fsync each second) in a temporary
// directory and stops it when the test ends. Without redis-server the test
// is skipped loudly, except under CI=true, where that is a failure.
func Start(t testing.TB) *Server { t.Helper(); return StartWith(t, Options{}) }

// StartWith is [Start] with options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is required in CI: %v", err)
		}
		t.Skipf("SKIPPED: redis-server not found (apt-get install redis-server): %v", err)
	}
	if o.Fsync == "" {
		o.Fsync = "everysec"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: o, Addr: addr}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a new client of the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Kill stops the server at once (SIGKILL), as a crash would. Killing a
// stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server and starts it again on the same port and data
// directory. It fails the test if the server does not come back, so call it
// from the test's goroutine; other goroutines use [Server.TryRestart].
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.TryRestart(); err != nil {
		s.t.Fatal(err)
	}
}

// TryRestart is [Server.Restart] reporting failure as an error, so that any
// goroutine may call it.
func (s *Server) TryRestart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
	return s.startLocked()
}

// Running reports whether the server process is up (it may still be
// loading its data).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Stall blocks the server for d with DEBUG SLEEP, as a long fork, a slow
// disk or a paused VM would: it accepts connections but answers nothing
// until d has passed. The server must have been started with Options.Debug.
// Stall returns when the server answers again, or when ctx ends.
func (s *Server) Stall(ctx context.Context, d time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, ReadTimeout: d + 10*time.Second})
	defer c.Close()
	return c.Do(ctx, "DEBUG", "SLEEP", strconv.FormatFloat(d.Seconds(), 'f', 3, 64)).Err()
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

// startLocked starts the process and polls until it answers PING, within a
// deadline.
func (s *Server) startLocked() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	appendonly := "yes"
	if s.opts.Ephemeral {
		appendonly = "no"
	}
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", appendonly, "--appendfsync", s.opts.Fsync, "--protected-mode", "no"}
	if s.opts.Debug {
		major, err := s.major()
		if err != nil {
			return err
		}
		if major >= 7 { // older servers allow DEBUG and do not know the option
			args = append(args, "--enable-debug-command", "yes")
		}
	}
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer: %w", s.Addr, err)
		}
		time.Sleep(10 * time.Millisecond) // polling for a process to come up
	}
}

var versionRE = regexp.MustCompile(`v=(\d+)\.`)

// major returns the major version of redis-server.
func (s *Server) major() (int, error) {
	out, err := exec.Command(s.bin, "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("redis-server --version: %w", err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0, errors.New("redis-server --version: no version in " + strconv.Quote(string(out)))
	}
	return strconv.Atoi(string(m[1]))
}

// Registrations returns how many waits redisbus has registered in Redis
// under prefix (the fields of its P:w:* hashes), or -1 if Redis cannot say:
// a Factory's Waiters for the conformance suite.
func Registrations(rdb *redis.Client, prefix string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := rdb.Keys(ctx, prefix+":w:*").Result()
	if err != nil {
		return -1
	}
	n := 0
	for _, k := range keys {
		m, err := rdb.HLen(ctx, k).Result()
		if err != nil {
			return -1
		}
		n += int(m)
	}
	return n
}
