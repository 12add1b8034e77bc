package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/redisbus"
)

// config is eventd's configuration: flags, with environment variables for
// the flags not given.
type config struct {
	addr      string
	keys      []string
	maxWait   time.Duration
	maxBody   int64
	retention time.Duration
	logFormat string
	logLevel  slog.Level
	redisURL  string

	redisTimeout time.Duration

	headerTimeout time.Duration
	bodyTimeout   time.Duration
	grace         time.Duration

	bounds // per key and overall (bounds.go)
}

// envOf names the environment variable of each flag.
var envOf = map[string]string{
	"addr":           "EVENTD_ADDR",
	"api-keys":       "EVENTD_API_KEYS",
	"api-keys-file":  "EVENTD_API_KEYS_FILE",
	"max-wait":       "EVENTD_MAX_WAIT",
	"max-body":       "EVENTD_MAX_BODY",
	"retention":      "EVENTD_RETENTION",
	"log-format":     "EVENTD_LOG_FORMAT",
	"log-level":      "EVENTD_LOG_LEVEL",
	"redis":          "EVENTD_REDIS_URL",
	"redis-timeout":  "EVENTD_REDIS_TIMEOUT",
	"header-timeout": "EVENTD_HEADER_TIMEOUT",
	"body-timeout":   "EVENTD_BODY_TIMEOUT",
	"shutdown-grace": "EVENTD_SHUTDOWN_GRACE",

	"max-retained":               "EVENTD_MAX_RETAINED",
	"max-retained-per-key":       "EVENTD_MAX_RETAINED_PER_KEY",
	"max-retained-bytes":         "EVENTD_MAX_RETAINED_BYTES",
	"max-retained-bytes-per-key": "EVENTD_MAX_RETAINED_BYTES_PER_KEY",
	"max-waits-per-key":          "EVENTD_MAX_WAITS_PER_KEY",
	"signal-rate-per-key":        "EVENTD_SIGNAL_RATE_PER_KEY",
}

// parseConfig parses args, then takes from getenv each flag not given.
// Usage and errors go to stderr.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("eventd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      config
		keys     string
		keysFile string
		level    string
	)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address; beyond loopback only with API keys")
	fs.StringVar(&keys, "api-keys", "", "comma-separated API keys, each its own scope; none: open local mode")
	fs.StringVar(&keysFile, "api-keys-file", "", "file of API keys, one per line (blank lines and # comments ignored)")
	fs.DurationVar(&cfg.maxWait, "max-wait", httpapi.DefaultMaxWait, "ceiling on a wait's timeoutMs; longer waits are clamped")
	fs.Int64Var(&cfg.maxBody, "max-body", httpapi.DefaultMaxBody, "largest request body in bytes; larger ones get 413")
	fs.DurationVar(&cfg.retention, "retention", eventcoord.DefaultRetention, "how long a signal nobody waited for is kept; 0 keeps none")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&level, "log-level", "info", "log level: debug (one line per request), info, warn or error")
	fs.DurationVar(&cfg.headerTimeout, "header-timeout", 10*time.Second, "time a client has to send its request headers")
	fs.DurationVar(&cfg.bodyTimeout, "body-timeout", httpapi.DefaultBodyTimeout, "time a client has to send its request body")
	fs.DurationVar(&cfg.grace, "shutdown-grace", 5*time.Second, "on SIGTERM, how long requests in progress may take before they are cut off")
	fs.StringVar(&cfg.redisURL, "redis", "", "redis://host:port/db to coordinate with other eventd processes through Redis; none: in memory")
	fs.DurationVar(&cfg.redisTimeout, "redis-timeout", redisbus.DefaultTimeout, "with -redis: bound on each Redis call; a signal Redis does not answer in time gets 503")
	cfg.bounds.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: eventd [flags]\n\nServes Anchor Browser's Event Coordination API.\nEach flag can also be set by the environment variable shown.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(fs.Output(), "  -%s (%s)\n    \t%s (default %q)\n", f.Name, envOf[f.Name], f.Usage, f.DefValue)
		})
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, env := range envOf {
		if v := getenv(env); v != "" && !given[name] {
			if err := fs.Set(name, v); err != nil {
				return config{}, fmt.Errorf("%s: %w", env, err)
			}
		}
	}

	// A key source that was given but holds no key is a mistake, never a
	// request for open mode: refuse it (the keys themselves are not shown).
	set := map[string]bool{} // given as a flag or by the environment
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.keys = splitKeys(strings.Split(keys, ","))
	if set["api-keys"] && len(cfg.keys) == 0 {
		return config{}, errors.New("-api-keys (EVENTD_API_KEYS) was given but holds no key: it is empty, separators only, " +
			"or only entries starting with #, which are comments; give a key, or leave it out for open local mode")
	}
	if set["api-keys-file"] {
		if keysFile == "" {
			return config{}, errors.New("-api-keys-file (EVENTD_API_KEYS_FILE) was given an empty path")
		}
		b, err := os.ReadFile(keysFile)
		if err != nil {
			return config{}, fmt.Errorf("reading API keys: %w", err)
		}
		fromFile := splitKeys(strings.Split(string(b), "\n"))
		if len(fromFile) == 0 {
			return config{}, fmt.Errorf("-api-keys-file %s holds no key (it is empty, or only blank lines and # comments): "+
				"add one key per line, or leave the flag out for open local mode", keysFile)
		}
		cfg.keys = append(cfg.keys, fromFile...)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(level)); err != nil {
		return config{}, fmt.Errorf("-log-level: %w", err)
	}
	switch {
	case cfg.logFormat != "text" && cfg.logFormat != "json":
		return config{}, fmt.Errorf("-log-format %q: want text or json", cfg.logFormat)
	case cfg.maxWait <= 0:
		return config{}, fmt.Errorf("-max-wait %v: want a positive duration", cfg.maxWait)
	case cfg.maxBody <= 0:
		return config{}, fmt.Errorf("-max-body %d: want a positive size", cfg.maxBody)
	case cfg.headerTimeout <= 0 || cfg.bodyTimeout <= 0 || cfg.grace <= 0:
		return config{}, errors.New("-header-timeout, -body-timeout and -shutdown-grace must be positive")
	case cfg.retention < 0:
		return config{}, fmt.Errorf("-retention %v: want zero or more", cfg.retention)
	case cfg.redisTimeout <= 0:
		return config{}, fmt.Errorf("-redis-timeout %v: want a positive duration", cfg.redisTimeout)
	}
	if err := cfg.bounds.check(); err != nil {
		return config{}, err
	}
	if len(cfg.keys) == 0 && !loopback(cfg.addr) {
		return config{}, fmt.Errorf("refusing to listen on %s without API keys: anyone who can reach it could read and signal events; "+
			"set -api-keys, -api-keys-file or EVENTD_API_KEYS, or listen on a loopback address such as 127.0.0.1:8080", cfg.addr)
	}
	return cfg, nil
}

// splitKeys trims each key and drops blanks and # comments.
func splitKeys(lines []string) []string {
	var keys []string
	for _, l := range lines {
		if l = strings.TrimSpace(strings.TrimPrefix(l, "\ufeff")); l != "" && !strings.HasPrefix(l, "#") { // a BOM is no key
			keys = append(keys, l)
		}
	}
	return keys
}

// loopback reports whether addr listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
