package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"-version"}, {"--version"}, {"version"}, {"-addr", "127.0.0.1:0", "-version"}} {
		r := cli(t, "", nil, args...)
		require.Equal(t, 0, r.code, "%q: %s", args, r.stderr)
		assert.Regexp(t, `^eventd \S+\n`, r.stdout, "%q", args)
		assert.Contains(t, r.stdout, "\ngo: "+runtime.Version()+"\n", "%q: the test and the binary share a toolchain", args)
		assert.Empty(t, r.stderr, "%q", args)
	}
}

// Built from a Git checkout with VCS stamping (go build's default outside
// GOFLAGS=-buildvcs=false), the version says which commit it is.
func TestVersionFromVCS(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git: the build cannot be stamped")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a Git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "eventd")
	out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := exec.Command(bin, "-version").Output()
	require.NoError(t, err)
	rev := strings.TrimSpace(string(head))
	assert.Contains(t, string(got), "\nrevision: "+rev+"\n")
	assert.Regexp(t, `\ntime: \d{4}-\d\d-\d\dT`, string(got))
	assert.Regexp(t, `\nmodified: (true|false)\n`, string(got))
	assert.Regexp(t, `^eventd v\S*`+rev[:12], string(got), "a pseudo-version naming the commit")
}

func TestBuildInfoMetric(t *testing.T) {
	base, _ := startEventd(t)
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b := readBuildInfo() // the test binary's: only the Go version is shared with eventd's
	re := regexp.MustCompile(`^eventd_build_info\{goversion="([^"]*)",revision="([^"]*)",version="([^"]*)"\} 1$`)
	var found []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			found = m
		}
	}
	require.NoError(t, sc.Err())
	require.NotNil(t, found, "eventd_build_info{goversion,revision,version} 1 in /metrics")
	assert.Equal(t, b.goVersion, found[1])
	r := cli(t, "", nil, "-version")
	assert.True(t, strings.HasPrefix(r.stdout, fmt.Sprintf("eventd %s\n", found[3])), "the metric's version is -version's: %q vs %q", found[3], r.stdout)
	if found[2] != "" {
		assert.Contains(t, r.stdout, "revision: "+found[2])
	}
}
