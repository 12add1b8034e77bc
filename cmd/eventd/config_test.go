package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventcoord/eventcoord/redisbus"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDefaultsAreOpenLocalMode(t *testing.T) {
	cfg, err := parseConfig(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.addr)
	assert.Empty(t, cfg.keys)
	assert.Equal(t, 10*time.Minute, cfg.maxWait)
	assert.Equal(t, int64(1<<20), cfg.maxBody)
	assert.Equal(t, 5*time.Minute, cfg.retention)
	assert.Equal(t, redisbus.DefaultTimeout, cfg.redisTimeout)
}

func TestFlagsBeatEnvironment(t *testing.T) {
	cfg, err := parseConfig([]string{"-max-wait", "1m", "-api-keys", "a, b"},
		env(map[string]string{"EVENTD_MAX_WAIT": "2m", "EVENTD_API_KEYS": "c", "EVENTD_RETENTION": "0s", "EVENTD_ADDR": "0.0.0.0:9"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, time.Minute, cfg.maxWait)
	assert.Equal(t, []string{"a", "b"}, cfg.keys)
	assert.Equal(t, time.Duration(0), cfg.retention, "the environment fills flags not given")
	assert.Equal(t, "0.0.0.0:9", cfg.addr, "with keys, any address")
}

func TestKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(path, []byte("# team keys\nalpha\n\n  beta  \n"), 0o600))
	cfg, err := parseConfig([]string{"-api-keys-file", path, "-api-keys", "gamma"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"gamma", "alpha", "beta"}, cfg.keys)
}

func TestKeysFileWithAByteOrderMark(t *testing.T) {
	dir := t.TempDir()
	bomOnly, withKey := filepath.Join(dir, "bom"), filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(bomOnly, []byte("\ufeff\n"), 0o600))
	require.NoError(t, os.WriteFile(withKey, []byte("\ufeffalpha\n"), 0o600))
	_, err := parseConfig([]string{"-api-keys-file", bomOnly}, env(nil), io.Discard)
	assert.Error(t, err, "a file holding only a byte order mark holds no key")
	cfg, err := parseConfig([]string{"-api-keys-file", withKey}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"alpha"}, cfg.keys)
}

func TestRefusesToListenBeyondLoopbackWithoutKeys(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "192.0.2.1:80", "[::]:80", "example.com:80"} {
		_, err := parseConfig([]string{"-addr", addr}, env(nil), io.Discard)
		assert.ErrorContains(t, err, "without API keys", addr)
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:8080", "[::1]:80", "127.0.0.2:1"} {
		_, err := parseConfig([]string{"-addr", addr}, env(nil), io.Discard)
		assert.NoError(t, err, addr)
	}
}

func TestBadConfigIsAnError(t *testing.T) {
	for _, args := range [][]string{
		{"-max-wait", "0s"}, {"-max-body", "-1"}, {"-retention", "-1s"},
		{"-log-format", "xml"}, {"-log-level", "loud"}, {"-nope"}, {"extra"},
		{"-api-keys-file", "/does/not/exist"}, {"-shutdown-grace", "0s"}, {"-header-timeout", "-1s"},
		{"-redis-timeout", "0s"},
	} {
		_, err := parseConfig(args, env(nil), io.Discard)
		assert.Error(t, err, "%q", args)
	}
	_, err := parseConfig(nil, env(map[string]string{"EVENTD_MAX_WAIT": "soon"}), io.Discard)
	assert.ErrorContains(t, err, "EVENTD_MAX_WAIT")
}

func TestKeySourceWithoutKeysRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	empty, comments := file("empty", ""), file("comments", "# team keys\n\n   # another\n")
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-api-keys-file", empty}, nil, "holds no key"},
		{[]string{"-api-keys-file", comments}, nil, "holds no key"},
		{[]string{"-api-keys", "#secret"}, nil, "holds no key"},
		{[]string{"-api-keys", ", ,"}, nil, "holds no key"},
		{[]string{"-api-keys", ""}, nil, "holds no key"},
		{[]string{"-api-keys", "good", "-api-keys-file", comments}, nil, "holds no key"},
		{[]string{"-api-keys-file", ""}, nil, "empty path"},
		{nil, map[string]string{"EVENTD_API_KEYS": "#secret"}, "holds no key"},
		{nil, map[string]string{"EVENTD_API_KEYS_FILE": empty}, "holds no key"},
	} {
		_, err := parseConfig(tc.args, env(tc.env), io.Discard)
		require.ErrorContains(t, err, tc.want, "%q %v", tc.args, tc.env)
		assert.NotContains(t, err.Error(), "secret", "keys are never shown")
	}
	var stderr strings.Builder
	code := Main(t.Context(), []string{"-api-keys", "#secret"}, env(nil), &stderr)
	assert.Equal(t, 2, code, "eventd does not start")
	assert.Contains(t, stderr.String(), "holds no key")
}
