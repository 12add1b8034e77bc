package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// buildInfo is what the binary knows of its own build, from
// runtime/debug.ReadBuildInfo.
type buildInfo struct {
	version   string // the main module's version: a tag, a pseudo-version, or "(devel)"
	revision  string // vcs.revision, if the build was stamped with one
	time      string // vcs.time (RFC 3339), if stamped
	modified  string // vcs.modified: "true" if the tree had uncommitted changes; "" if not stamped
	goVersion string // the toolchain that built the binary
}

// readBuildInfo returns the binary's build information; fields the build
// did not record are empty, except version, which is then "unknown".
func readBuildInfo() buildInfo {
	b := buildInfo{version: "unknown", goVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.goVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value
		}
	}
	return b
}

// write prints b, one "key: value" line each after the first, leaving out
// what the build did not record:
//
//	eventd v0.0.0-20261127101757-5d91651abcde+dirty
//	revision: 5d91651abcde…
//	time: 2026-11-27T10:17:57Z
//	modified: true
//	go: go1.26.8
func (b buildInfo) write(w io.Writer) {
	var s strings.Builder
	fmt.Fprintf(&s, "eventd %s\n", b.version)
	for _, kv := range [][2]string{{"revision", b.revision}, {"time", b.time}, {"modified", b.modified}, {"go", b.goVersion}} {
		if kv[1] != "" {
			fmt.Fprintf(&s, "%s: %s\n", kv[0], kv[1])
		}
	}
	io.WriteString(w, s.String())
}

// wantsVersion reports whether the serving flags ask for the version:
// -version or --version (or =true) anywhere before a "--".
func wantsVersion(args []string) bool {
	for _, a := range args {
		switch a {
		case "-version", "--version", "-version=true", "--version=true":
			return true
		case "--":
			return false
		}
	}
	return false
}

// runVersion is the version subcommand: it prints the build information
// to stdout and takes no arguments.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
			fmt.Fprintln(stderr, "Usage: eventd version\n\nPrints the module version, VCS revision, time and state, and Go version of this binary.")
			return 0
		}
		fmt.Fprintf(stderr, "eventd version: unexpected arguments: %q\n", args)
		return exitUsage
	}
	readBuildInfo().write(stdout)
	return 0
}

// newRegistry returns the registry eventd serves at /metrics: the Go and
// process collectors, as httpapi's default, and eventd_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	b := readBuildInfo()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "eventd_build_info",
		Help:        "Always 1; its labels say which build of eventd is running: module version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": b.version, "revision": b.revision, "goversion": b.goVersion},
	})
	info.Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), info)
	return reg
}
