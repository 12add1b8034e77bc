package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/eventcoord/eventcoord"
)

// The clear and list subcommands: an operator's look at a key's events
// and a way to drop a stale one, from a shell.

func runClear(ctx context.Context, args []string, getenv func(string) string, s stdio) int {
	fs := newSubcommandFlags("clear", `Usage: eventd clear [flags] NAME

Removes the event retained for NAME (signaled while nobody waited), so
that the next wait blocks for a new one. Waiters are not touched.
Exit codes: 0 an event was removed, 1 none was retained, 2 usage,
3 refused (4xx), 4 server or network failure, 130 interrupted.

`, s)
	var cf clientFlags
	cf.register(fs)
	cf.registerAnswer(fs, "how long to wait for the server's answer")
	name, code := parseClientArgs(fs, args)
	if code >= 0 {
		return code
	}
	c := cf.open("clear", getenv, s.err)
	if c == nil {
		return exitUsage
	}
	defer c.CloseIdleConnections()
	reqCtx, cancel := cf.request(ctx)
	defer cancel()
	cleared, err := c.Clear(reqCtx, name)
	if err != nil {
		return report(ctx, s.err, "clear", err)
	}
	if !cleared {
		fmt.Fprintf(s.err, "eventd clear: no event was retained for %q\n", name)
		return exitNone
	}
	return exitOK
}

// listedName is one line of eventd list: the fields of GET /v1/events.
type listedName struct {
	Name       string `json:"name"`
	Waiters    int    `json:"waiters"`
	Retained   bool   `json:"retained"`
	Seq        uint64 `json:"seq,omitempty"`
	SignaledAt string `json:"signaledAt,omitempty"`
	Size       int64  `json:"size,omitempty"`
}

func runList(ctx context.Context, args []string, getenv func(string) string, s stdio) int {
	fs := newSubcommandFlags("list", `Usage: eventd list [flags]

Prints the key's names that hold state (waiters, or a retained event), one
JSON object a line, in bytewise order of name: name, waiters, retained, and
for a retained event its seq, signaledAt and size in bytes. Every name
unless -limit; -after starts after a name.
Exit codes: 0 listed, 2 usage, 3 refused (4xx), 4 server or network
failure, 130 interrupted.

`, s)
	var (
		cf    clientFlags
		after string
		limit int
	)
	cf.register(fs)
	fs.StringVar(&after, "after", "", "start after this name")
	fs.IntVar(&limit, "limit", 0, "print at most this many names; 0: all")
	cf.registerAnswer(fs, "how long to wait for each page of the server's answer")
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	if limit < 0 {
		fmt.Fprintf(s.err, "eventd list: -limit %d: want a limit of zero or more\n", limit)
		return exitUsage
	}
	c := cf.open("list", getenv, s.err)
	if c == nil {
		return exitUsage
	}
	defer c.CloseIdleConnections()
	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)
	for printed := 0; ; {
		page := eventcoord.MaxListLimit
		if limit > 0 {
			page = min(page, limit-printed)
		}
		reqCtx, cancel := cf.request(ctx)
		l, err := c.List(reqCtx, eventcoord.ListOptions{After: after, Limit: page})
		cancel()
		if err != nil {
			return report(ctx, s.err, "list", err)
		}
		for _, n := range l.Names {
			line := listedName{Name: n.Name, Waiters: n.Waiters, Retained: n.Retained}
			if n.Retained {
				line.Seq, line.Size = n.Seq, n.Size
				if !n.SignaledAt.IsZero() {
					line.SignaledAt = n.SignaledAt.UTC().Format(time.RFC3339Nano)
				}
			}
			if err := enc.Encode(line); err != nil {
				fmt.Fprintln(s.err, "eventd list: writing:", err)
				return exitFailure
			}
		}
		printed += len(l.Names)
		if l.Next == "" || limit > 0 && printed >= limit {
			return exitOK
		}
		after = l.Next
	}
}

// parseNoArgs parses a subcommand's flags, which take no argument after
// them. It returns a non-negative exit code when the subcommand must stop.
func parseNoArgs(fs *flag.FlagSet, args []string) int {
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "eventd %s: no arguments after the flags: got %q\n", fs.Name(), fs.Args())
		return exitUsage
	}
	return -1
}
