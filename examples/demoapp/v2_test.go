package demoapp

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// sendSigned sends one call with sig and returns the answer's status, body and
// header.
func sendSigned(t *testing.T, base, path string, sig hook.Signature, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hook.SetHeaders(req.Header, testSecret, sig, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data, resp.Header
}

// TestHookAnswersAreSignedAndReplaysRefused: every answer of both hooks verifies
// for its call (the plugin refuses others), and the same call sent twice is
// refused the second time.
func TestHookAnswersAreSignedAndReplaysRefused(t *testing.T) {
	_, srv := newServer(t)
	calls := []struct {
		name, path, hook, body string
		want                   int
	}{
		{"lookup found", lookupPath, hook.GetUser, `{"connection":"c","email":"alice@example.com"}`, 200},
		{"lookup not found", lookupPath, hook.GetUser, `{"connection":"c","email":"nobody@example.com"}`, 404},
		{"change refused", passwordPath, hook.ChangePassword, `{"user_id":"user-bob","password":"bob-old-password-1"}`, 422},
		{"change malformed", passwordPath, hook.ChangePassword, `{"user_id":`, 400},
		{"change done", passwordPath, hook.ChangePassword, `{"user_id":"user-bob","password":"bob-new-password-2"}`, 204},
	}
	for _, c := range calls {
		sig := hook.Signature{Hook: c.hook, ID: "id-" + strings.ReplaceAll(c.name, " ", "-"), Timestamp: time.Now()}
		code, body, h := sendSigned(t, srv.URL, c.path, sig, []byte(c.body))
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
		if err := hook.VerifyAnswer(h, testSecret, sig, code, body); err != nil {
			t.Errorf("%s: the answer does not verify: %v", c.name, err)
		}
		if code, _, _ := sendSigned(t, srv.URL, c.path, sig, []byte(c.body)); code != http.StatusUnauthorized {
			t.Errorf("%s replayed: %d, want 401", c.name, code)
		}
	}
}

// plugin is a stand-in for the plugin's revoke endpoint over real HTTP: it
// verifies the app's call as the plugin does and answers with status, signed.
type plugin struct {
	srv     *httptest.Server
	status  atomic.Int32
	revoked chan hook.RevokeTicketsRequest
}

func startPlugin(t *testing.T) *plugin {
	t.Helper()
	p := &plugin{revoked: make(chan hook.RevokeTicketsRequest, 10)}
	p.status.Store(http.StatusNoContent)
	v := &hook.Verifier{Secret: testSecret}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != RevokePath {
			http.NotFound(w, r)
			return
		}
		call, err := v.VerifyRequest(r, hook.RevokeTickets)
		if err != nil {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		var req hook.RevokeTicketsRequest
		if err := json.Unmarshal(call.Body, &req); err != nil {
			t.Errorf("revoke body %q: %v", call.Body, err)
		}
		p.revoked <- req
		call.Answer(w, int(p.status.Load()), nil)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// appWithPlugin starts the app with its revoke calls going to pluginURL.
func appWithPlugin(t *testing.T, pluginURL string) (*App, *httptest.Server) {
	t.Helper()
	app, err := New(Config{Secret: testSecret, PluginURL: pluginURL})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)
	return app, srv
}

// changeOwn posts the change-password form with c and returns the page.
func changeOwn(t *testing.T, c *http.Client, base, current, next string) (int, string) {
	t.Helper()
	resp, err := c.PostForm(base+PathChangePassword, url.Values{"current_password": {current}, "new_password": {next}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readBody(t, resp)
}

func TestChangeOwnPassword(t *testing.T) {
	p := startPlugin(t)
	app, srv := appWithPlugin(t, p.srv.URL)

	// Signed out: the page sends you to sign in.
	resp, err := noRedirects().Get(srv.URL + PathChangePassword)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("signed out: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}

	c := browser(t)
	login(t, c, srv.URL, "alice@example.com", "alice-old-password-1")
	code, body := get(t, c, srv.URL+PathChangePassword)
	if code != http.StatusOK || !strings.Contains(body, `autocomplete="current-password"`) || !strings.Contains(body, `autocomplete="new-password"`) {
		t.Fatalf("form: %d %q", code, body)
	}
	if _, body := changeOwn(t, c, srv.URL, "not-her-password", "alice-new-password-2"); !strings.Contains(body, msgWrongCurrent) {
		t.Errorf("wrong current password: %q", body)
	}
	if _, body := changeOwn(t, c, srv.URL, "alice-old-password-1", "alice-old-password-1"); !strings.Contains(body, msgSamePassword) {
		t.Errorf("same password: %q", body)
	}
	select {
	case req := <-p.revoked:
		t.Fatalf("a refused change called revoke: %+v", req)
	default:
	}

	_, body = changeOwn(t, c, srv.URL, "alice-old-password-1", "alice-new-password-2")
	if !strings.Contains(body, msgPasswordChanged) {
		t.Fatalf("after the change: %q", body)
	}
	if req := <-p.revoked; req.UserID != "user-alice" || req.Connection != Connection {
		t.Errorf("revoke call %+v, want alice's", req)
	}
	if !app.CheckPassword("alice@example.com", "alice-new-password-2") {
		t.Error("the new password does not work")
	}
}

// noRedirects returns a client that reports redirects.
func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestChangeOwnPasswordRevokeFails: the password changes, and the page says that
// the links were not revoked, whether the plugin is down, refuses, or answers
// something that does not verify.
func TestChangeOwnPasswordRevokeFails(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	refusing := startPlugin(t)
	refusing.status.Store(http.StatusServiceUnavailable)
	unsigned := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent) // a plugin on hook protocol v1, or something else
	}))
	t.Cleanup(unsigned.Close)
	tests := []struct{ name, url, want string }{
		{"plugin down", downURL, "did not answer"},
		{"plugin answers 503", refusing.srv.URL, "the plugin answered 503"},
		{"unsigned answer", unsigned.URL, "is not signed"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, srv := appWithPlugin(t, tt.url)
			c := browser(t)
			login(t, c, srv.URL, "bob@example.com", "bob-old-password-1")
			next := "bob-new-password-" + string(rune('a'+i))
			_, body := changeOwn(t, c, srv.URL, "bob-old-password-1", next)
			if !strings.Contains(body, "could not be revoked") || !strings.Contains(body, tt.want) || !strings.Contains(body, `role="alert"`) {
				t.Errorf("page %q, want the revoke failure with %q", body, tt.want)
			}
			if strings.Contains(body, string(testSecret)) {
				t.Error("the page shows the hook secret")
			}
			if !app.CheckPassword("bob@example.com", next) {
				t.Error("the password did not change")
			}
		})
	}
}

func TestNewRefusesBadPluginURL(t *testing.T) {
	for _, bad := range []string{"localhost:8080", "/lo", "ftp://x"} {
		if _, err := New(Config{Secret: testSecret, PluginURL: bad}); err == nil {
			t.Errorf("New with plugin URL %q succeeded", bad)
		}
	}
}
