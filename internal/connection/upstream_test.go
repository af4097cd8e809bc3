package connection_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

var secret = []byte("connection-test-secret-0123456789")

// app is a hook server whose answers the test sets; it verifies every call's
// signature (and refuses replays) with a hook.Verifier, as a real app would, and
// answers through the verified call, which signs the answer.
func app(t *testing.T, answer func(c *hook.Call, w http.ResponseWriter)) *connection.Upstream {
	t.Helper()
	return upstreamTo(t, appServer(t, answer).URL)
}

// appServer serves the hooks of app.
func appServer(t *testing.T, answer func(c *hook.Call, w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	verifier := &hook.Verifier{Secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, err := verifier.VerifyRequest(r, r.Header.Get(hook.HeaderHook))
		if err != nil {
			t.Errorf("the plugin's call does not verify: %v", err)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		answer(call, w)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// upstreamTo returns the connection to the hooks at base.
func upstreamTo(t *testing.T, base string) *connection.Upstream {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return &connection.Upstream{Connection: "db", Secret: secret, Timeout: time.Second,
		GetUserURL: u.JoinPath("/lookup"), ChangePasswordURL: u.JoinPath("/password")}
}

func writeJSON(c *hook.Call, w http.ResponseWriter, status int, v any) {
	c.AnswerJSON(w, status, v) //nolint:errcheck // test server
}

func TestLookupUser(t *testing.T) {
	u := app(t, func(c *hook.Call, w http.ResponseWriter) {
		var req hook.GetUserRequest
		json.Unmarshal(c.Body, &req) //nolint:errcheck // checked below
		switch {
		case c.Hook != hook.GetUser || req.Connection != "db":
			t.Errorf("call %s %+v", c.Hook, req)
		case req.Email == "alice@example.com" || req.UserID == "u1":
			writeJSON(c, w, 200, hook.User{UserID: "u1", Email: "alice@example.com", Name: "Alice"})
		case req.Email == "broken@example.com":
			writeJSON(c, w, 200, hook.User{Name: "no id"})
		case req.Email == "error@example.com":
			c.Answer(w, 500, nil)
		case req.UserID == "u2":
			writeJSON(c, w, 200, hook.User{UserID: "u3", Email: "other@example.com"})
		default:
			c.Answer(w, 404, nil)
		}
	})
	ctx := context.Background()
	if user, err := u.GetUser(ctx, hook.GetUserRequest{Email: "alice@example.com"}); err != nil || user.UserID != "u1" || user.Name != "Alice" {
		t.Errorf("known: %+v %v", user, err)
	}
	if _, err := u.GetUser(ctx, hook.GetUserRequest{Email: "nobody@example.com"}); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := u.GetUser(ctx, hook.GetUserRequest{Email: "broken@example.com"}); err == nil || !strings.Contains(err.Error(), "lacks user_id") {
		t.Errorf("answer without id: %v", err)
	}
	if _, err := u.GetUser(ctx, hook.GetUserRequest{Email: "error@example.com"}); err == nil || errors.Is(err, users.ErrNotFound) {
		t.Errorf("500: %v", err)
	}
	if user, err := u.GetUser(ctx, hook.GetUserRequest{UserID: "u1"}); err != nil || user.Email != "alice@example.com" {
		t.Errorf("by id: %+v %v", user, err)
	}
	if _, err := u.GetUser(ctx, hook.GetUserRequest{UserID: "u2"}); err == nil || !strings.Contains(err.Error(), "another user") {
		t.Errorf("by id, answered for someone else: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	const password = "the-new-password-77"
	u := app(t, func(c *hook.Call, w http.ResponseWriter) {
		var req hook.ChangePasswordRequest
		json.Unmarshal(c.Body, &req) //nolint:errcheck // checked below
		switch req.UserID {
		case "ok":
			if c.Hook != hook.ChangePassword || req.Password != password || !req.EndSessions || req.Reason != hook.ReasonReset {
				t.Errorf("call %s %+v", c.Hook, req)
			}
			c.Answer(w, 204, nil)
		case "refuse":
			writeJSON(c, w, 422, hook.ErrorResponse{Message: "Choose another one."})
		case "gone":
			c.Answer(w, 404, nil)
		case "echo":
			// A broken app that echoes the request: the error must not carry it.
			c.Answer(w, 500, c.Body)
		}
	})
	ctx := context.Background()
	change := func(id string) error {
		return u.ChangePassword(ctx, hook.ChangePasswordRequest{UserID: id, Email: "a@example.com", Password: password,
			Reason: hook.ReasonReset, EndSessions: true})
	}
	if err := change("ok"); err != nil {
		t.Errorf("ok: %v", err)
	}
	var refused *users.RefusedError
	if err := change("refuse"); !errors.As(err, &refused) || refused.Message != "Choose another one." {
		t.Errorf("refusal: %v", err)
	}
	if err := change("gone"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	if err := change("echo"); err == nil || strings.Contains(err.Error(), password) || errors.Is(err, users.ErrOutcomeUnknown) {
		t.Errorf("a failing app's error carries the password, or is not definite: %v", err)
	}
}

// TestHookCallsDoNotFollowRedirects: a redirect must not carry a signed body and a
// password to another host.
func TestHookCallsDoNotFollowRedirects(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the hook call followed a redirect")
	}))
	t.Cleanup(elsewhere.Close)
	u := app(t, func(c *hook.Call, w http.ResponseWriter) {
		w.Header().Set("Location", elsewhere.URL)
		c.Answer(w, http.StatusTemporaryRedirect, nil)
	})
	err := u.ChangePassword(context.Background(), hook.ChangePasswordRequest{UserID: "x", Password: "p"})
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("redirect: %v", err)
	}
}

// TestHookTimeout: an app that does not answer is given up on after Timeout, with
// an error naming the hook and the URL without its query or credentials.
func TestHookTimeout(t *testing.T) {
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-stuck }))
	t.Cleanup(func() { close(stuck); srv.Close() })
	base, _ := url.Parse(srv.URL)
	base.User = url.UserPassword("user", "hunter2")
	u := &connection.Upstream{Connection: "db", Secret: secret, Timeout: 50 * time.Millisecond,
		GetUserURL: base.JoinPath("/lookup"), ChangePasswordURL: base.JoinPath("/password")}
	start := time.Now()
	_, err := u.GetUser(context.Background(), hook.GetUserRequest{Email: "a@example.com"})
	if err == nil || !strings.Contains(err.Error(), "get_user") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("timeout error: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %s, want about 50ms", d)
	}
}
