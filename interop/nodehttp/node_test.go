// Package nodehttp_test drives eventd's handler with Node's own http module,
// whose ways (a whole body sent before the answer is read) differ from Go's
// and curl's.
package nodehttp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A body over the limit, sent whole before the answer is read, still gets
// a readable 413: eventd drains it (a lingering close) instead of closing
// on unread data, which would reset the connection and lose the answer.
func TestNodeReadsThe413OfAnOversizedBody(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required in CI: %v", err)
		}
		t.Skipf("SKIPPED: node not found, so Node's http module cannot be tried: %v", err)
	}
	srv := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, node, "bigbody.mjs")
	run.Env = append(os.Environ(), "EVENTD_URL="+srv.URL, fmt.Sprintf("BODY_BYTES=%d", 20<<20))
	out, err := run.CombinedOutput()
	t.Logf("node: %s", out)
	require.NoError(t, err, "Node's http module did not read a 413")
}
