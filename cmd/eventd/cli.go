package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
)

// Exit codes of the signal and wait subcommands, for scripts to branch on.
const (
	exitOK          = 0   // wait: the event came (its data is on stdout); signal: accepted
	exitTimeout     = 1   // wait: nobody signaled within -timeout
	exitNone        = 1   // clear: no event was retained
	exitUsage       = 2   // bad flags or arguments, data that is not a JSON object, no API key
	exitRefused     = 3   // the server refused the request: a 4xx other than the wait's 408 (401 bad key, 400, 413, 429, …)
	exitFailure     = 4   // a 5xx, a redirect, an unreadable answer, or no answer at all (connection refused, DNS, TLS, -timeout passed with the server silent)
	exitInterrupted = 130 // SIGINT or SIGTERM arrived first
)

// Defaults and environment of the client subcommands.
const (
	defaultURL = "http://127.0.0.1:8080"
	envURL     = "EVENTD_URL"
)

// keyEnvs are the environment variables the API key is taken from, in
// order, when -key is not given: eventd's own, then the one Anchor's SDKs
// read, then ANCHOR_API_KEY.
var keyEnvs = []string{"EVENTD_API_KEY", "ANCHORBROWSER_API_KEY", "ANCHOR_API_KEY"}

// subcommandUsage is appended to eventd -h.
const subcommandUsage = `
Subcommands (eventd SUBCOMMAND -h for their flags):
  eventd                  serve (the flags above); the default
  eventd signal NAME      signal the event NAME with a JSON object from -data or stdin
  eventd wait NAME        wait for the event NAME and print its data as JSON on stdout
  eventd clear NAME       remove the event retained for NAME (eventd only)
  eventd list             print the names holding waiters or a retained event, as JSON lines (eventd only)
  eventd version          print the build's version, VCS revision and Go version (also: eventd -version)

signal and wait talk to any server of the API (eventd, or Anchor's hosted
https://api.anchorbrowser.io), clear and list to eventd: -url or EVENTD_URL
(default ` + defaultURL + `), -key or EVENTD_API_KEY, ANCHORBROWSER_API_KEY or
ANCHOR_API_KEY.
Exit codes: 0 event received, signal accepted, event cleared or names
listed; 1 wait timed out, or nothing retained to clear; 2 usage
error; 3 refused by the server (4xx: bad key, bad name or data, too many
requests); 4 server or network failure (5xx, no answer, redirect); 130
interrupted.
`

// stdio is a subcommand's standard streams.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// subcommand returns the subcommand args[0] names, if it names one.
func subcommand(args []string) (func(context.Context, []string, func(string) string, stdio) int, bool) {
	if len(args) == 0 {
		return nil, false
	}
	switch args[0] {
	case "signal":
		return runSignal, true
	case "wait":
		return runWait, true
	case "clear":
		return runClear, true // manage.go
	case "list":
		return runList, true
	case "version":
		return func(_ context.Context, args []string, _ func(string) string, s stdio) int {
			return runVersion(args, s.out, s.err)
		}, true
	}
	return nil, false
}

// clientFlags are the flags the client subcommands share.
type clientFlags struct {
	url, key string
	answer   time.Duration // -timeout of a subcommand that waits only for the server's answer
	bounded  bool          // answer was registered: it must be positive
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "base URL of the API (env "+envURL+"; default "+defaultURL+")")
	fs.StringVar(&c.key, "key", "", "API key, sent as anchor-api-key (env "+strings.Join(keyEnvs, ", then ")+")")
}

// registerAnswer adds -timeout as the bound on each of the server's
// answers (signal, clear, list; wait's own -timeout is the wait's).
func (c *clientFlags) registerAnswer(fs *flag.FlagSet, usage string) {
	fs.DurationVar(&c.answer, "timeout", 30*time.Second, usage)
	c.bounded = true
}

// request returns ctx bounded by -timeout, for one of the server's answers.
func (c *clientFlags) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.answer)
}

// client returns a client of the API from the flags, then the environment.
func (c *clientFlags) client(getenv func(string) string) (*client.Client, error) {
	base := c.url
	if base == "" {
		base = getenv(envURL)
	}
	if base == "" {
		base = defaultURL
	}
	key := c.key
	for _, env := range keyEnvs {
		if key != "" {
			break
		}
		key = getenv(env)
	}
	if key == "" {
		return nil, fmt.Errorf("no API key: give -key or set %s (in eventd's open local mode any non-empty key works)", strings.Join(keyEnvs, ", "))
	}
	return client.New(base, key)
}

// open returns the client of the flags for the subcommand cmd, or prints
// why there is none (a usage error: no key, or a -timeout that is not
// positive) and returns nil.
func (c *clientFlags) open(cmd string, getenv func(string) string, stderr io.Writer) *client.Client {
	if c.bounded && c.answer <= 0 {
		fmt.Fprintf(stderr, "eventd %s: -timeout %v: want a positive duration\n", cmd, c.answer)
		return nil
	}
	cl, err := c.client(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "eventd %s: %v\n", cmd, err)
		return nil
	}
	return cl
}

// parseFlags parses a subcommand's flags. It returns a non-negative exit
// code when the subcommand must stop: -h, or a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	return -1
}

// parseClientArgs parses a subcommand's flags and its one NAME argument.
// It returns a non-negative exit code when the subcommand must stop.
func parseClientArgs(fs *flag.FlagSet, args []string) (string, int) {
	if code := parseFlags(fs, args); code >= 0 {
		return "", code
	}
	switch {
	case fs.NArg() == 0:
		fmt.Fprintf(fs.Output(), "eventd %s: the event NAME is missing\n", fs.Name())
		return "", exitUsage
	case fs.NArg() > 1:
		fmt.Fprintf(fs.Output(), "eventd %s: one event NAME, then nothing (flags go before it): got %q\n", fs.Name(), fs.Args())
		return "", exitUsage
	case fs.Arg(0) == "":
		fmt.Fprintf(fs.Output(), "eventd %s: the event NAME is empty\n", fs.Name())
		return "", exitUsage
	}
	if ne, ok := errors.AsType[*eventcoord.NameError](eventcoord.ValidateName(fs.Arg(0))); ok {
		fmt.Fprintf(fs.Output(), "eventd %s: the event NAME is not valid: %s\n", fs.Name(), ne.Reason)
		return "", exitUsage
	}
	return fs.Arg(0), -1
}

func newSubcommandFlags(name, usage string, s stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

func runSignal(ctx context.Context, args []string, getenv func(string) string, s stdio) int {
	fs := newSubcommandFlags("signal", `Usage: eventd signal [flags] NAME

Signals the event NAME with a JSON object as its data: -data, or else stdin
(for example: echo '{"code": "123456"}' | eventd signal mfa_code). Every
client waiting on NAME gets it; if none waits, the server keeps it for the
next. Exit codes: 0 accepted, 2 usage (the data is not one JSON object),
3 refused (4xx), 4 server or network failure, 130 interrupted.

`, s)
	var (
		cf   clientFlags
		data string
	)
	cf.register(fs)
	fs.StringVar(&data, "data", "", "the event's data, a JSON object; none: read from stdin")
	cf.registerAnswer(fs, "how long to wait for the server's answer")
	name, code := parseClientArgs(fs, args)
	if code >= 0 {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var raw []byte
	if set["data"] {
		raw = []byte(data)
	} else {
		var err error
		if raw, err = io.ReadAll(s.in); err != nil {
			fmt.Fprintf(s.err, "eventd signal: reading the data from stdin: %v\n", err)
			return exitUsage
		}
	}
	obj, err := decodeObject(raw)
	if err != nil {
		from := "stdin"
		if set["data"] {
			from = "-data"
		}
		fmt.Fprintf(s.err, "eventd signal: %s: %v\n", from, err)
		return exitUsage
	}
	c := cf.open("signal", getenv, s.err)
	if c == nil {
		return exitUsage
	}
	defer c.CloseIdleConnections()
	reqCtx, cancel := cf.request(ctx)
	defer cancel()
	if _, err := c.Signal(reqCtx, name, obj); err != nil {
		return report(ctx, s.err, "signal", err)
	}
	return exitOK
}

func runWait(ctx context.Context, args []string, getenv func(string) string, s stdio) int {
	fs := newSubcommandFlags("wait", `Usage: eventd wait [flags] NAME

Waits for the event NAME and prints its data, a JSON object, on one line of
stdout. An event signaled while nobody waited is returned at once. Waits
longer than the server allows are made of several requests.
Exit codes: 0 the event came, 1 timed out, 2 usage, 3 refused (4xx),
4 server or network failure, 130 interrupted.

`, s)
	var (
		cf      clientFlags
		timeout time.Duration
	)
	cf.register(fs)
	fs.DurationVar(&timeout, "timeout", client.DefaultWait, "how long to wait for the event; 0 waits until it comes")
	name, code := parseClientArgs(fs, args)
	if code >= 0 {
		return code
	}
	if timeout < 0 {
		fmt.Fprintf(s.err, "eventd wait: -timeout %v: want zero (no limit) or more\n", timeout)
		return exitUsage
	}
	c := cf.open("wait", getenv, s.err)
	if c == nil {
		return exitUsage
	}
	defer c.CloseIdleConnections()
	ev, err := waitFor(ctx, c, name, timeout)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		fmt.Fprintf(s.err, "eventd wait: %q was not signaled within %v\n", name, timeout)
		return exitTimeout
	}
	if err != nil {
		return report(ctx, s.err, "wait", err)
	}
	out, err := marshalData(ev.Data)
	if err != nil { // cannot happen: the data was decoded from JSON
		fmt.Fprintln(s.err, "eventd wait: encoding the event's data:", err)
		return exitFailure
	}
	if _, err := s.out.Write(out); err != nil {
		fmt.Fprintln(s.err, "eventd wait: writing the event's data:", err)
		return exitFailure
	}
	return exitOK
}

// waitFor waits up to timeout (0: no limit) for the event name. The client
// makes that as many requests as the server's ceiling on a wait requires,
// and leaves the end of each to the server, so that an event signaled at
// the last moment is not lost; a server silent past a wait's end is an
// error wrapping eventcoord.ErrUnavailable. The whole timeout passing is
// context.DeadlineExceeded.
func waitFor(ctx context.Context, c *client.Client, name string, timeout time.Duration) (eventcoord.Event, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return c.Wait(ctx, name)
}

// report prints err and returns its exit code.
func report(ctx context.Context, stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "eventd %s: %v\n", cmd, err)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	if e, ok := errors.AsType[*client.APIError](err); ok && e.StatusCode >= 400 && e.StatusCode < 500 {
		return exitRefused
	}
	return exitFailure
}

// decodeObject decodes raw as exactly one JSON object, keeping every digit
// of its numbers (json.Number).
func decodeObject(raw []byte) (eventcoord.Data, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New(`no data: the event's data must be a JSON object, such as {} or {"code": "123456"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON (%v): the event's data must be a JSON object, such as {\"code\": \"123456\"}", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the event's data must be a JSON object, such as {\"value\": %s}, not %s", compact(raw), kind(v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value: the event's data must be one JSON object")
	}
	return obj, nil
}

// kind names the JSON type of a decoded value.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// compact returns raw on one line, cut short if long.
func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "…"
	}
	if b.Len() > 40 {
		return b.String()[:40] + "…"
	}
	return b.String()
}

// marshalData encodes data as one line of JSON, leaving <, > and & as they are.
func marshalData(data eventcoord.Data) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if data == nil {
		data = eventcoord.Data{}
	}
	err := enc.Encode(data)
	return b.Bytes(), err
}
