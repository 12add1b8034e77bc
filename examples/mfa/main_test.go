package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunLogsIn(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out))
	got := out.String()
	assert.Contains(t, got, "woke 1 waiter(s)")
	assert.Contains(t, got, "script: got code 123456 (event #2)", "not the earlier attempt's 000000 (#1)")
	assert.True(t, strings.HasSuffix(got, "script: logged in\n"), got)
}
