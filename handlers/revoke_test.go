package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/demoapp"
	"github.com/caddy-password-reset/caddy-password-reset/handlers"
	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const conn = demoapp.Connection

// stack is the plugin's public handler over the services on real parts, and the
// demo app over real HTTP, each calling the other.
type stack struct {
	svc       *reset.Service
	admin     *admin.Service
	app       *demoapp.App
	appURL    string
	pluginURL string
}

// newStack starts the demo app with its revoke calls going to the plugin, and
// the plugin with its hooks going to the app.
func newStack(t *testing.T) *stack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the plugin's address, known before the app starts
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{pluginURL: "http://" + ln.Addr().String()}
	s.app, err = demoapp.New(demoapp.Config{Secret: []byte(testenv.HookSecret), PluginURL: s.pluginURL})
	if err != nil {
		t.Fatal(err)
	}
	appSrv := httptest.NewServer(s.app.Handler())
	t.Cleanup(appSrv.Close)
	s.appURL = appSrv.URL

	st := testenv.NewStackWith(t, testenv.StackOptions{App: &testenv.App{App: s.app, URL: appSrv.URL}})
	s.svc, s.admin = st.Flow, st.Admin
	public, err := handlers.NewPublic(s.svc, handlers.PublicConfig{
		Inbound: map[string]handlers.InboundVerifier{conn: st.Upstream},
	})
	if err != nil {
		t.Fatal(err)
	}
	plugin := httptest.NewUnstartedServer(public)
	plugin.Listener.Close()
	plugin.Listener = ln
	plugin.Start()
	t.Cleanup(plugin.Close)
	return s
}

// issueTicket creates an admin ticket for the user and returns it.
func (s *stack) issueTicket(t *testing.T, userID string) string {
	t.Helper()
	issued, err := s.admin.CreateTicket(context.Background(), admin.Actor{Name: "test"}, admin.TicketRequest{UserID: userID})
	if err != nil {
		t.Fatalf("CreateTicket: %v", err)
	}
	return testenv.Ticket(t, issued.URL)
}

// browser is one browser profile on the demo app.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func post(t *testing.T, c *http.Client, u string, form url.Values) string {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRevokeTicketsFromApp (issue 8 item 15): a password changed inside the app
// left the user's open reset links alive. The demo app's own change-password
// page now calls the plugin's revoke endpoint, and the link stops working.
func TestRevokeTicketsFromApp(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	ticket := s.issueTicket(t, "user-alice")
	bobTicket := s.issueTicket(t, "user-bob")
	if _, err := s.svc.OpenTicket(ctx, ticket); err != nil {
		t.Fatalf("the fresh ticket does not work: %v", err)
	}

	alice := browser(t)
	if page := post(t, alice, s.appURL+"/login", url.Values{"email": {"alice@example.com"}, "password": {"alice-old-password-1"}}); !strings.Contains(page, "Signed in as") {
		t.Fatalf("login: %q", page)
	}
	page := post(t, alice, s.appURL+demoapp.PathChangePassword, url.Values{
		"current_password": {"alice-old-password-1"}, "new_password": {"alice-changed-in-the-app-2"},
	})
	if !strings.Contains(page, "Password reset links sent before no longer work.") {
		t.Fatalf("the change-password page after the change: %q", page)
	}
	if !s.app.CheckPassword("alice@example.com", "alice-changed-in-the-app-2") {
		t.Fatal("the app did not change the password")
	}

	if _, err := s.svc.OpenTicket(ctx, ticket); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Errorf("alice's ticket after the change in the app: %v, want ErrTicketSuperseded", err)
	}
	_, err := s.svc.CompleteReset(ctx, reset.ResetForm{Ticket: ticket, Password: "Correct-Horse-9-battery", Confirm: "Correct-Horse-9-battery"})
	if err == nil || !s.app.CheckPassword("alice@example.com", "alice-changed-in-the-app-2") {
		t.Errorf("the revoked ticket still reset the password (error %v)", err)
	}
	if _, err := s.svc.OpenTicket(ctx, bobTicket); err != nil {
		t.Errorf("bob's ticket died with alice's: %v", err)
	}

	entries, _, err := s.admin.AuditLog(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Type == "tickets_revoked" && e.Actor == "app" && e.UserID == "user-alice" && e.Connection == conn {
			found = true
		}
	}
	if !found {
		t.Errorf("no tickets_revoked audit entry for alice in %+v", entries)
	}
}

// revokeCall sends a revoke call signed with secret (nil: unsigned) and returns
// the answer.
func revokeCall(t *testing.T, pluginURL string, secret []byte, sig hook.Signature, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, pluginURL+handlers.PathRevoke, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != nil {
		hook.SetHeaders(req.Header, secret, sig, []byte(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// TestRevokeEndpoint: the endpoint's answers, signed once the call verifies; a
// bad signature, a replay or a call for another hook is a 401 with no detail,
// and changes nothing.
func TestRevokeEndpoint(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	ticket := s.issueTicket(t, "user-alice")
	secret := []byte(testenv.HookSecret)
	body := fmt.Sprintf(`{"connection":%q,"user_id":"user-alice"}`, conn)
	sigN := 0
	sig := func(name string) hook.Signature {
		sigN++
		return hook.Signature{Hook: name, ID: fmt.Sprint("call-", sigN), Timestamp: time.Now()}
	}

	refusals := []struct {
		name   string
		secret []byte
		sig    hook.Signature
		body   string
		want   int
	}{
		{"unsigned", nil, sig(hook.RevokeTickets), body, 401},
		{"wrong secret", []byte("not-the-hook-secret-0123456789"), sig(hook.RevokeTickets), body, 401},
		{"another hook's call", secret, sig(hook.ChangePassword), body, 401},
		{"stale", secret, hook.Signature{Hook: hook.RevokeTickets, ID: "old", Timestamp: time.Now().Add(-time.Hour)}, body, 401},
		{"not JSON", secret, sig(hook.RevokeTickets), `user_id=user-alice`, 400},
		{"unknown field", secret, sig(hook.RevokeTickets), fmt.Sprintf(`{"connection":%q,"user_id":"u","all":"yes"}`, conn), 400},
		{"user_id a number", secret, sig(hook.RevokeTickets), fmt.Sprintf(`{"connection":%q,"user_id":42}`, conn), 400},
		{"unknown connection", secret, sig(hook.RevokeTickets), `{"connection":"nope","user_id":"user-alice"}`, 400},
		{"social connection", secret, sig(hook.RevokeTickets), `{"connection":"google-oauth2","user_id":"user-alice"}`, 400},
		{"no user_id", secret, sig(hook.RevokeTickets), fmt.Sprintf(`{"connection":%q}`, conn), 400},
	}
	for _, tt := range refusals {
		resp, data := revokeCall(t, s.pluginURL, tt.secret, tt.sig, tt.body)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, data, tt.want)
		}
		if tt.want == 401 && string(data) != "Unauthorized\n" {
			t.Errorf("%s: body %q, want no detail", tt.name, data)
		}
	}
	if _, err := s.svc.OpenTicket(ctx, ticket); err != nil {
		t.Fatalf("a refused call revoked the ticket: %v", err)
	}

	good := sig(hook.RevokeTickets)
	resp, data := revokeCall(t, s.pluginURL, secret, good, body)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("good call: %d %s", resp.StatusCode, data)
	}
	if err := hook.VerifyAnswer(resp.Header, secret, good, resp.StatusCode, data); err != nil {
		t.Errorf("the 204 is not signed for the call: %v", err)
	}
	if _, err := s.svc.OpenTicket(ctx, ticket); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Errorf("ticket after the revoke: %v", err)
	}
	if resp, _ := revokeCall(t, s.pluginURL, secret, good, body); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the same call replayed: %d, want 401", resp.StatusCode)
	}

	// A user without an open link: nothing to do, still a 204.
	again := sig(hook.RevokeTickets)
	if resp, data := revokeCall(t, s.pluginURL, secret, again, body); resp.StatusCode != http.StatusNoContent ||
		hook.VerifyAnswer(resp.Header, secret, again, resp.StatusCode, data) != nil {
		t.Errorf("revoke without an open link: %d %s", resp.StatusCode, data)
	}
	if resp, _ := revokeCall(t, s.pluginURL, secret, sig(hook.RevokeTickets), strings.Repeat(" ", hook.MaxBodyBytes+1)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", resp.StatusCode)
	}
	if resp, err := http.Get(s.pluginURL + handlers.PathRevoke); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
