package connection_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// aliceApp answers get_user with alice, signed, and change_password with 204.
func aliceApp(t *testing.T) *httptest.Server {
	t.Helper()
	return appServer(t, func(c *hook.Call, w http.ResponseWriter) {
		if c.Hook == hook.ChangePassword {
			c.Answer(w, http.StatusNoContent, nil)
			return
		}
		writeJSON(c, w, 200, hook.User{UserID: "user-alice", Email: "alice@example.com"})
	})
}

// proxyTo is a real reverse proxy in front of target whose answers modify
// changes (nil: passed through).
func proxyTo(t *testing.T, target string, modify func(*http.Response) error) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }, ModifyResponse: modify}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

// replaceBody sets resp's body to b.
func replaceBody(resp *http.Response, b []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

// TestHookAnswerSigned (issue 8 item 5): a man in the middle rewrote get_user's
// email, so alice's reset link went to the attacker. Answers are signed now: a
// rewritten answer, an unsigned one and one signed for another call are refused.
func TestHookAnswerSigned(t *testing.T) {
	ctx := context.Background()
	app := aliceApp(t)

	t.Run("through an honest proxy", func(t *testing.T) {
		u := upstreamTo(t, proxyTo(t, app.URL, nil).URL)
		if user, err := u.GetUser(ctx, hook.GetUserRequest{Email: "alice@example.com"}); err != nil || user.Email != "alice@example.com" {
			t.Fatalf("LookupUser through a proxy that changes nothing: %+v %v", user, err)
		}
	})

	t.Run("man in the middle rewrites the email", func(t *testing.T) {
		mitm := proxyTo(t, app.URL, func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			replaceBody(resp, bytes.ReplaceAll(body, []byte("alice@example.com"), []byte("attacker@evil.example")))
			return nil
		})
		user, err := upstreamTo(t, mitm.URL).GetUser(ctx, hook.GetUserRequest{Email: "alice@example.com"})
		if err == nil || user != nil {
			t.Fatalf("LookupUser through the attacker = %+v, %v; want an error", user, err)
		}
		if !errors.Is(err, hook.ErrBadSignature) || !strings.Contains(err.Error(), "does not verify") {
			t.Errorf("error %q, want a signature that does not verify", err)
		}
		if strings.Contains(err.Error(), "attacker@evil.example") {
			t.Errorf("error %q carries the answer's body", err)
		}
	})

	t.Run("unsigned answer: an app on hook protocol v1", func(t *testing.T) {
		v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"user_id":"user-alice","email":"alice@example.com"}`)) //nolint:errcheck // test server
		}))
		t.Cleanup(v1.Close)
		_, err := upstreamTo(t, v1.URL).GetUser(ctx, hook.GetUserRequest{Email: "alice@example.com"})
		want := "the app's get_user answer is not signed: it speaks hook protocol v1; see README 'The hook protocol'"
		if !errors.Is(err, hook.ErrUnsignedAnswer) || !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want ErrUnsignedAnswer and %q", err, want)
		}
	})

	t.Run("a v1 app refuses the v2 call", func(t *testing.T) {
		v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		}))
		t.Cleanup(v1.Close)
		_, err := upstreamTo(t, v1.URL).GetUser(ctx, hook.GetUserRequest{Email: "alice@example.com"})
		if !errors.Is(err, hook.ErrUnsignedAnswer) || !strings.Contains(err.Error(), "hook secrets differ, or the app speaks hook protocol v1") {
			t.Errorf("error %q", err)
		}
	})

	t.Run("an answer signed for another call", func(t *testing.T) {
		// The proxy keeps the first answer and hands it out for every later call.
		var mu sync.Mutex
		var kept *http.Response
		var keptBody []byte
		replay := proxyTo(t, app.URL, func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if kept == nil {
				kept, keptBody = resp, body
			} else {
				resp.Header.Set(hook.HeaderSignature, kept.Header.Get(hook.HeaderSignature))
				body = keptBody
			}
			replaceBody(resp, body)
			return nil
		})
		u := upstreamTo(t, replay.URL)
		if _, err := u.GetUser(ctx, hook.GetUserRequest{Email: "alice@example.com"}); err != nil {
			t.Fatalf("first call: %v", err)
		}
		user, err := u.GetUser(ctx, hook.GetUserRequest{Email: "alice@example.com"})
		if err == nil || !errors.Is(err, hook.ErrBadSignature) {
			t.Fatalf("second call with the first call's answer = %+v, %v; want a bad signature", user, err)
		}
	})
}

// TestChangePasswordOutcomeUnknown: a change_password call that may have reached
// the app without a verified answer coming back is uncertain (the ticket must not
// be reused); a call that never left, or a verified failure, is definite.
func TestChangePasswordOutcomeUnknown(t *testing.T) {
	const password = "the-new-password-77"
	change := func(ctx context.Context, u *connection.Upstream) error {
		return u.ChangePassword(ctx, hook.ChangePasswordRequest{UserID: "u1", Password: password, Reason: hook.ReasonReset})
	}
	check := func(t *testing.T, err error, unknown bool) {
		t.Helper()
		if err == nil {
			t.Fatal("ChangePassword succeeded")
		}
		t.Log(err)
		if got := errors.Is(err, users.ErrOutcomeUnknown); got != unknown {
			t.Errorf("error %q: ErrOutcomeUnknown is %v, want %v", err, got, unknown)
		}
		if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), string(secret)) {
			t.Errorf("error %q carries the password or the secret", err)
		}
	}

	t.Run("the app reads the call, then hangs past the timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) //nolint:errcheck // the call has arrived
			<-release
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) }) // runs first: the handler returns, then the server closes
		u := upstreamTo(t, srv.URL)
		u.Timeout = 100 * time.Millisecond
		check(t, change(context.Background(), u), true)
	})

	t.Run("nothing listens on the port", func(t *testing.T) {
		check(t, change(context.Background(), upstreamTo(t, "http://"+testenv.FreeAddr(t))), false)
	})

	for name, partial := range map[string]string{
		"the connection breaks mid-header": "HTTP/1.1 204 No Content\r\nX-Password-Reset-Signature: v2=",
		"the connection breaks mid-body":   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"user",
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body) //nolint:errcheck // the call has arrived
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				buf.WriteString(partial) //nolint:errcheck // then cut
				buf.Flush()              //nolint:errcheck // then cut
				conn.Close()
			}))
			t.Cleanup(srv.Close)
			check(t, change(context.Background(), upstreamTo(t, srv.URL)), true)
		})
	}

	t.Run("the answer's signature does not verify", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sig := hook.Signature{Hook: hook.ChangePassword, ID: r.Header.Get(hook.HeaderID), Timestamp: time.Now()}
			w.Header().Set(hook.HeaderSignature, hook.SignAnswer([]byte("not the shared secret"), sig, 204, nil))
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		check(t, change(context.Background(), upstreamTo(t, srv.URL)), true)
	})

	t.Run("the context ends mid-call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) //nolint:errcheck // the call has arrived
			cancel()
			<-r.Context().Done() // the plugin hangs up
		}))
		t.Cleanup(srv.Close)
		check(t, change(ctx, upstreamTo(t, srv.URL)), true)
	})

	t.Run("the context ended before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		check(t, change(ctx, upstreamTo(t, aliceApp(t).URL)), false)
	})

	t.Run("a verified 500", func(t *testing.T) {
		u := app(t, func(c *hook.Call, w http.ResponseWriter) { c.Answer(w, 500, nil) })
		check(t, change(context.Background(), u), false)
	})
}

// TestUpstreamValidate: plain http only to loopback unless Insecure; the timeout
// at most MaxTimeout.
func TestUpstreamValidate(t *testing.T) {
	tests := []struct {
		url      string
		insecure bool
		timeout  time.Duration
		wantErr  string
	}{
		{url: "http://127.0.0.1:9000"},
		{url: "http://127.1.2.3:9000"},
		{url: "http://[::1]:9000"},
		{url: "http://localhost:9000"},
		{url: "http://LocalHost"},
		{url: "https://app.internal.example:9000"},
		{url: "http://app.internal.example:9000", insecure: true},
		{url: "http://app.internal.example:9000", wantErr: "use https, or"},
		{url: "http://10.0.0.5:9000", wantErr: "plain http to 10.0.0.5:9000 is refused"},
		{url: "http://localhost.evil.example", wantErr: "is refused"},
		{url: "http://127.0.0.1.nip.io", wantErr: "is refused"},
		{url: "http://[::ffff:127.0.0.1]:9000"},
		{url: "http://127.0.0.1:9000", timeout: connection.MaxTimeout},
		{url: "http://127.0.0.1:9000", timeout: connection.MaxTimeout + time.Second, wantErr: "above the maximum of 30s"},
		{url: "http://127.0.0.1:9000", timeout: -time.Second, wantErr: "must be positive"},
	}
	for _, tt := range tests {
		u := upstreamTo(t, tt.url)
		u.Insecure, u.Timeout = tt.insecure, tt.timeout
		err := u.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s insecure=%v timeout=%v: %v", tt.url, tt.insecure, tt.timeout, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s insecure=%v timeout=%v: error %v, want %q", tt.url, tt.insecure, tt.timeout, err, tt.wantErr)
		}
	}
}

// TestVerifyInbound: the app's revoke_tickets call verifies with the connection's
// secret, once; a replay, another hook's call or another secret is refused.
func TestVerifyInbound(t *testing.T) {
	u := upstreamTo(t, "http://127.0.0.1:9000")
	body := []byte(`{"connection":"db","user_id":"u1"}`)
	signed := func(s []byte, name, id string) http.Header {
		h := http.Header{}
		hook.SetHeaders(h, s, hook.Signature{Hook: name, ID: id, Timestamp: time.Now()}, body)
		return h
	}
	h := signed(secret, hook.RevokeTickets, "a")
	call, err := u.VerifyInbound(h, body, hook.RevokeTickets)
	if err != nil || !bytes.Equal(call.Body, body) {
		t.Fatalf("VerifyInbound: %v", err)
	}
	if _, err := u.VerifyInbound(h, body, hook.RevokeTickets); !errors.Is(err, hook.ErrReplayed) {
		t.Errorf("replay: %v", err)
	}
	if _, err := u.VerifyInbound(signed(secret, hook.ChangePassword, "b"), body, hook.RevokeTickets); !errors.Is(err, hook.ErrWrongHook) {
		t.Errorf("another hook's call: %v", err)
	}
	if _, err := u.VerifyInbound(signed([]byte("another secret"), hook.RevokeTickets, "c"), body, hook.RevokeTickets); !errors.Is(err, hook.ErrBadSignature) {
		t.Errorf("another secret: %v", err)
	}
}
