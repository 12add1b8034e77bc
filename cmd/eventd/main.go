// Command eventd serves Anchor Browser's Event Coordination API, so that
// code and SDKs written for Anchor's hosted API run against a local or
// self-hosted server. Run it with zero configuration for local use:
//
//	go run ./cmd/eventd
//
// and see eventd -h for its flags. The same binary is a client of any
// server of the API, for shell scripts (cli.go), and reports its build
// (version.go):
//
//	eventd signal -data '{"code": "123456"}' mfa_code
//	eventd wait -timeout 30s mfa_code
//	eventd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eventcoord/eventcoord/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if run, ok := subcommand(os.Args[1:]); ok { // signal, wait, version (cli.go)
		os.Exit(run(ctx, os.Args[2:], os.Getenv, stdio{os.Stdin, os.Stdout, os.Stderr}))
	}
	if wantsVersion(os.Args[1:]) {
		readBuildInfo().write(os.Stdout)
		os.Exit(0)
	}
	os.Exit(Main(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// Main runs eventd until ctx ends and returns its exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) { // usage was printed: no failure
		fmt.Fprint(stderr, subcommandUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "eventd:", err)
		return 2
	}
	if err := run(ctx, cfg, stderr); err != nil {
		fmt.Fprintln(stderr, "eventd:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, cfg config, logOut io.Writer) error {
	log := cfg.logger(logOut)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	be, err := openBackend(ctx, cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer be.close()
	h := httpapi.New(be.scope, append(cfg.bounds.handlerOptions(),
		httpapi.WithKeys(cfg.keys),
		httpapi.WithMaxWait(cfg.maxWait),
		httpapi.WithMaxBody(cfg.maxBody),
		httpapi.WithBodyTimeout(cfg.bodyTimeout),
		httpapi.WithLogger(log),
		httpapi.WithStats(be.stats),
		httpapi.WithHealth(be.health),
		httpapi.WithRegistry(newRegistry()))...) // with eventd_build_info (version.go)
	conns := newConnTracker()
	srv := &http.Server{
		Handler:           h,
		ConnState:         conns.track,
		ReadHeaderTimeout: cfg.headerTimeout,
		// No ReadTimeout or WriteTimeout: they would cut long waits. The
		// handler bounds each body read and each wait itself.
		IdleTimeout: 2 * time.Minute,
		// OPTIONS * too is answered by the handler, in JSON like every answer.
		DisableGeneralOptionsHandler: true,
	}
	srv.RegisterOnShutdown(h.Drain)

	mode := "keys"
	if h.Open() {
		mode = "open (any non-empty key, loopback only)"
	}
	log.Info("eventd listening", "addr", ln.Addr().String(), "mode", mode, "keys", len(cfg.keys), "backend", be.name,
		"max_wait", cfg.maxWait, "max_body", cfg.maxBody, "retention", cfg.retention)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("eventd shutting down: answering pending waits with 503")
	if err := shutdown(srv, conns, cfg.grace); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("eventd stopped")
	return nil
}

// shutdown stops srv once no request is in progress, or after grace, and
// reports requests it had to cut off. Pending waits are answered at once
// (Drain), so grace only covers requests in flight; connections that carry
// no request are closed at once rather than waited for.
func shutdown(srv *http.Server, conns *connTracker, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case err := <-done:
			if err == nil {
				return nil
			}
			cut := conns.busy()
			srv.Close()
			if cut > 0 {
				return fmt.Errorf("shutdown: %d requests still running after %v were cut off", cut, grace)
			}
			return nil
		case <-poll.C:
			if conns.busy() == 0 {
				cancel() // only unused connections remain: Shutdown need not wait for them
			}
		}
	}
}
