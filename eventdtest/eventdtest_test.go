package eventdtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eventcoord/eventcoord"
	"github.com/eventcoord/eventcoord/client"
	"github.com/eventcoord/eventcoord/eventdtest"
	"github.com/eventcoord/eventcoord/httpapi"
	"github.com/eventcoord/eventcoord/internal/testserver"
)

// TestMain also proves that Close leaves no goroutine: every test closes
// its servers.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartServesTheAPIOnLoopbackWithItsKey(t *testing.T) {
	srv := eventdtest.Start(t)
	assert.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	require.NotEmpty(t, srv.Key)

	r, err := srv.Client().Signal(t.Context(), "mfa_code", eventcoord.Data{"code": "123456"})
	require.NoError(t, err)
	assert.True(t, r.Retained)
	assert.Equal(t, 1, srv.Stats().Retained, "Stats are the Coordinator's behind the server")

	ev, err := srv.Client().Poll(t.Context(), "mfa_code")
	require.NoError(t, err)
	assert.Equal(t, r.Seq, ev.Seq)
	assert.Equal(t, "123456", ev.Data["code"])
}

func TestKeys(t *testing.T) {
	t.Run("generated", func(t *testing.T) {
		one, two := eventdtest.Start(t), eventdtest.Start(t)
		assert.NotEqual(t, one.Key, two.Key, "each server generates its own key")
		_, err := one.ClientFor(two.Key).Signal(t.Context(), "x", eventcoord.Data{})
		assert.ErrorIs(t, err, client.ErrUnauthorized, "only the generated key is accepted")
	})
	t.Run("given", func(t *testing.T) {
		srv := eventdtest.Start(t, eventdtest.WithKeys("alice", "bob"))
		assert.Equal(t, "alice", srv.Key)
		_, err := srv.Client().Signal(t.Context(), "x", eventcoord.Data{"from": "alice"})
		require.NoError(t, err)

		_, err = srv.ClientFor("bob").Poll(t.Context(), "x")
		assert.ErrorIs(t, err, eventcoord.ErrNoEvent, "bob's scope is not alice's")
		ev, err := srv.ClientFor("alice").Poll(t.Context(), "x")
		require.NoError(t, err)
		assert.Equal(t, "alice", ev.Data["from"])

		_, err = srv.ClientFor("carol").Poll(t.Context(), "x")
		assert.ErrorIs(t, err, client.ErrUnauthorized)
	})
	t.Run("bad", func(t *testing.T) {
		assert.PanicsWithValue(t, "eventdtest: WithKeys: want one or more non-empty keys", func() { eventdtest.WithKeys() })
		assert.Panics(t, func() { eventdtest.WithKeys("a", "") })
		srv := eventdtest.Start(t)
		assert.Panics(t, func() { srv.ClientFor("") })
	})
}

func TestOptionsReachTheCoordinatorAndTheHandler(t *testing.T) {
	srv := eventdtest.Start(t,
		eventdtest.WithCoordinatorOptions(eventcoord.WithRetention(0)),
		eventdtest.WithHandlerOptions(httpapi.WithMaxBody(64), httpapi.WithKeys([]string{"ignored"})))

	r, err := srv.Client().Signal(t.Context(), "x", eventcoord.Data{})
	require.NoError(t, err, "WithKeys decides the keys, not httpapi.WithKeys")
	assert.False(t, r.Retained, "retention off")
	assert.Equal(t, uint64(1), srv.Stats().Expired)

	_, err = srv.Client().Signal(t.Context(), "x", eventcoord.Data{"big": strings.Repeat("x", 64)})
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusRequestEntityTooLarge, apiErr.StatusCode)

	_, err = srv.ClientFor("ignored").Signal(t.Context(), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, client.ErrUnauthorized)
}

// Close answers a pending wait at once, as eventd's shutdown does, rather
// than waiting for its timeout; TestMain checks no goroutine is left.
func TestCloseAnswersPendingWaits(t *testing.T) {
	srv := eventdtest.New()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // longer than the test may run
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		_, err := srv.Client().Wait(ctx, "never")
		waited <- err
	}()
	testserver.Await(t, "the wait reaches the server", func() bool { return srv.Stats().Waiters == 1 })

	srv.Close()
	assert.ErrorIs(t, <-waited, eventcoord.ErrUnavailable)
	srv.Close() // idempotent
	_, err := srv.Client().Signal(t.Context(), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable, "nothing listens any more")
}

func TestStartClosesWhenTheTestEnds(t *testing.T) {
	var srv *eventdtest.Server
	t.Run("test", func(t *testing.T) {
		srv = eventdtest.Start(t)
		_, err := srv.Client().Signal(t.Context(), "x", eventcoord.Data{})
		require.NoError(t, err)
	})
	_, err := srv.Client().Signal(t.Context(), "x", eventcoord.Data{})
	assert.ErrorIs(t, err, eventcoord.ErrUnavailable)
}

// OPTIONS * gets the API's JSON answer, not net/http's empty 200, as from
// eventd.
func TestOptionsStarIsJSON(t *testing.T) {
	srv := eventdtest.Start(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, srv.URL, nil)
	require.NoError(t, err)
	req.URL.Opaque = "*" // the request line reads OPTIONS * HTTP/1.1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code int } `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, http.StatusNotFound, body.Error.Code)
}
