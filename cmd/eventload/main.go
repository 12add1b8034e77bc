// Command eventload drives a running eventd over real HTTP and checks that
// nothing is lost: W waiting clients spread over K names (and API keys),
// signals at a rate or as fast as possible, for a duration or a count.
//
//	go run ./cmd/eventload -url http://127.0.0.1:8080 -waiters 1000 -names 100 -duration 30s
//
// Every response is verified: each waiter gets only its own name's and
// key's events, never one twice; every accepted signal is received,
// retained, or accounted for by eventd's own counters in /metrics (replaced,
// expired, evicted); no 5xx. It prints a progress line each second and a
// summary at the end (-json for scripts), and exits 1 if anything was lost
// or failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs eventload and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "eventload:", err)
		return 2
	}
	if cfg.replot != "" {
		if err := replot(cfg); err != nil {
			fmt.Fprintln(stderr, "eventload:", err)
			return 1
		}
		return 0
	}
	if n, err := raiseFileLimit(); err == nil {
		fmt.Fprintf(stderr, "eventload: open-file limit %d\n", n)
	} else {
		fmt.Fprintf(stderr, "eventload: could not raise the open-file limit: %v\n", err)
	}
	sum, err := run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "eventload:", err)
		return 1
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(sum)
	} else {
		sum.print(stdout)
	}
	if cfg.svg != "" {
		if err := saveSVG(cfg, sum); err != nil {
			fmt.Fprintln(stderr, "eventload:", err)
			return 1
		}
	}
	if !sum.OK() {
		return 1
	}
	return 0
}

func saveSVG(cfg config, sum *summary) error {
	f, err := os.Create(cfg.svg)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("eventd: %d waiters, %d names, %.0f signals/s, %.0f s", sum.Waiters, sum.Names, sum.SignalsPerSec, sum.Seconds)
	if err := writeSVG(f, title, sum.Samples); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func replot(cfg config) error {
	if cfg.svg == "" {
		return errors.New("-replot needs -svg")
	}
	raw, err := os.ReadFile(cfg.replot)
	if err != nil {
		return err
	}
	var sum summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return fmt.Errorf("%s: %w", cfg.replot, err)
	}
	return saveSVG(cfg, &sum)
}

type config struct {
	url       string
	signalURL string // where signals go; url by default
	keys      []string
	waiters   int
	names     int
	rate      float64
	duration  time.Duration
	count     int
	waitMs    int
	json      bool
	sample    time.Duration
	settle    time.Duration
	svg       string // write the samples' chart here
	replot    string // chart this saved -json summary instead of running
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("eventload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var keys string
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:8080", "eventd's base URL")
	fs.StringVar(&cfg.signalURL, "signal-url", "", "send signals to this eventd instead (another replica on the same Redis); default -url")
	fs.StringVar(&keys, "keys", "eventload", "comma-separated API keys; waiters and signals spread over them")
	fs.IntVar(&cfg.waiters, "waiters", 100, "concurrent waiting clients")
	fs.IntVar(&cfg.names, "names", 10, "event names per key the waiters spread over")
	fs.Float64Var(&cfg.rate, "rate", 0, "signals per second; 0: as fast as one signaler goes")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to signal (ignored with -count)")
	fs.IntVar(&cfg.count, "count", 0, "signals to send, then stop; 0: use -duration")
	fs.IntVar(&cfg.waitMs, "wait-ms", 30000, "each wait's timeoutMs")
	fs.BoolVar(&cfg.json, "json", false, "print the summary as JSON")
	fs.DurationVar(&cfg.sample, "sample", 10*time.Second, "how often to sample eventd's RSS and goroutines from /metrics")
	fs.DurationVar(&cfg.settle, "settle", 30*time.Second, "at the end, how long to wait for eventd to account for every signal (events in flight over Redis)")
	fs.StringVar(&cfg.svg, "svg", "", "write an SVG chart of RSS, goroutines and p99 latency over time to this file")
	fs.StringVar(&cfg.replot, "replot", "", "with -svg: chart this saved -json summary instead of running")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	for _, k := range strings.Split(keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.keys = append(cfg.keys, k)
		}
	}
	switch {
	case len(cfg.keys) == 0:
		return config{}, errors.New("-keys: at least one key")
	case cfg.waiters < 0 || cfg.names < 1:
		return config{}, errors.New("-waiters must be ≥ 0 and -names ≥ 1")
	case cfg.count == 0 && cfg.duration <= 0:
		return config{}, errors.New("give -count or a positive -duration")
	}
	cfg.url = strings.TrimSuffix(cfg.url, "/")
	if cfg.signalURL == "" {
		cfg.signalURL = cfg.url
	}
	cfg.signalURL = strings.TrimSuffix(cfg.signalURL, "/")
	return cfg, nil
}

func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}
