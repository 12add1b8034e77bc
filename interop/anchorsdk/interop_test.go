// Package anchorsdk_test drives eventd's handler with Anchor Browser's
// official TypeScript SDK (npm anchorbrowser, pinned in package.json), the
// acceptance bar for API compatibility.
package anchorsdk_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// need returns the path of a tool the test needs. Without it the test is
// skipped loudly, except under CI=true, where that is a failure.
func need(t *testing.T, tool string) string {
	path, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", tool, err)
		}
		t.Skipf("SKIPPED: %s not found, so Anchor's SDK cannot be run: %v", tool, err)
	}
	return path
}

func TestAnchorSDKAgainstEventd(t *testing.T) {
	node, npm := need(t, "node"), need(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if _, err := os.Stat(filepath.Join("node_modules", "anchorbrowser")); err != nil {
		install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		out, err := install.CombinedOutput()
		require.NoError(t, err, "npm ci: %s", out)
	}

	srv := testserver.Start(t, httpapi.WithKeys([]string{"sdk-key-one", "sdk-key-two"}))
	run := exec.CommandContext(ctx, node, "interop.mjs")
	run.Env = append(os.Environ(), "ANCHORBROWSER_BASE_URL="+srv.URL, "EXPECT_KEYS=1")
	out, err := run.CombinedOutput()
	t.Logf("Anchor SDK against eventd:\n%s", out)
	require.NoError(t, err, "the SDK interop script failed")
}
