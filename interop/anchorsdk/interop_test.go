// Package anchorsdk_test drives eventd's handler with Anchor Browser's
// official TypeScript SDK (npm anchorbrowser, pinned in package.json and
// package-lock.json), the acceptance bar for API compatibility.
//
// The SDK is installed outside the repository, in the user's cache
// directory under a name made of the lockfile's hash, and the script runs
// from there, so that a test run writes nothing into the source tree.
package anchorsdk_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unavailable skips the test loudly, except under CI=true, where what is
// missing is a failure.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required in CI: "+format, args...)
	}
	t.Skipf("SKIPPED, Anchor's SDK was not run: "+format, args...)
}

// need returns the path of a tool the test needs (see unavailable).
func need(t *testing.T, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		unavailable(t, "%s not found: %v", tool, err)
	}
	return path
}

// installSDK returns a directory holding node_modules installed by npm ci
// from package-lock.json, in the user's cache directory and keyed by the
// lockfile's hash, so that it is installed once per lockfile and never in
// the source tree.
func installSDK(ctx context.Context, t *testing.T, npm string) string {
	t.Helper()
	lock, err := os.ReadFile("package-lock.json")
	require.NoError(t, err)
	manifest, err := os.ReadFile("package.json")
	require.NoError(t, err)
	cache, err := os.UserCacheDir()
	if err != nil {
		unavailable(t, "no cache directory to install the SDK in: %v", err)
	}
	sum := sha256.Sum256(append(append(lock, 0), manifest...))
	root := filepath.Join(cache, "eventcoord", "anchorsdk")
	dir := filepath.Join(root, hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "anchorbrowser", "package.json")); err == nil {
		return dir
	}

	// Install into a directory of its own, then rename it into place, so
	// that a run that stops halfway or runs beside another leaves no
	// half-installed SDK under the final name.
	require.NoError(t, os.MkdirAll(root, 0o755))
	tmp, err := os.MkdirTemp(root, "installing-")
	require.NoError(t, err)
	defer os.RemoveAll(tmp) // gone once renamed
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "package.json"), manifest, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "package-lock.json"), lock, 0o644))
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	install.Dir = tmp
	if out, err := install.CombinedOutput(); err != nil {
		unavailable(t, "npm ci (no network?) failed: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, statErr := os.Stat(dir); statErr != nil { // not installed by a run beside this one either
			require.NoError(t, err)
		}
	}
	return dir
}

func TestAnchorSDKAgainstEventd(t *testing.T) {
	node, npm := need(t, "node"), need(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, statErr := os.Stat("node_modules")
	hadNodeModules := statErr == nil // left by an older version of this test

	dir := installSDK(ctx, t, npm)
	// ES modules find packages from the script's own directory, not from
	// NODE_PATH: the script runs from a copy beside the SDK.
	script, err := os.ReadFile("interop.mjs")
	require.NoError(t, err)
	copyPath := filepath.Join(dir, "interop-"+rand.Text()+".mjs")
	require.NoError(t, os.WriteFile(copyPath, script, 0o644))
	defer os.Remove(copyPath)

	srv := testserver.Start(t, httpapi.WithKeys([]string{"sdk-key-one", "sdk-key-two"}))
	run := exec.CommandContext(ctx, node, copyPath)
	run.Env = append(os.Environ(), "ANCHORBROWSER_BASE_URL="+srv.URL, "EXPECT_KEYS=1")
	out, err := run.CombinedOutput()
	t.Logf("Anchor SDK against eventd:\n%s", out)
	require.NoError(t, err, "the SDK interop script failed")

	if !hadNodeModules {
		_, err := os.Stat("node_modules")
		assert.ErrorIs(t, err, fs.ErrNotExist, "the test wrote node_modules into the source tree")
	}
}
