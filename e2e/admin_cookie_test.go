package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// cookieRecorder is an app behind the proxy that records the cookies it gets.
type cookieRecorder struct {
	mu      sync.Mutex
	cookies []string
	srv     *httptest.Server
}

func newCookieRecorder(t *testing.T) *cookieRecorder {
	rec := &cookieRecorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.cookies = append(rec.cookies, r.Header.Values("Cookie")...)
		rec.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *cookieRecorder) saw(name string) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, line := range rec.cookies {
		if strings.Contains(line, name+"=") {
			return true
		}
	}
	return false
}

// cookieSites is the public site in front of the recorder and an admin site on
// adminSite (a site address: a port alone, or a host name and port).
func cookieSites(t *testing.T, rec *cookieRecorder, adminSite string) string {
	s := &stack{t: t, box: testenv.StartMailbox(t), app: &testenv.App{URL: rec.srv.URL}, dir: t.TempDir()}
	cfg := s.caddyfile()
	return cfg + fmt.Sprintf(`
%s {
	password_reset_admin {
		token ops {env.E2E_ADMIN_TOKEN}
	}
	respond 404
}
`, adminSite)
}

// signIn signs client in to the dashboard at base and returns its session cookie.
func signIn(t *testing.T, client *http.Client, base string) *http.Cookie {
	t.Helper()
	resp, err := client.Get(base + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the sign-in page:\n%s", page)
	}
	resp, err = client.PostForm(base+"/admin/login", url.Values{"_csrf": {m[1]}, "token": {adminToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "pwreset_admin" {
			if c.Path != "/admin" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie %+v: want Path=/admin, HttpOnly, SameSite=Strict", c)
			}
			return c
		}
	}
	t.Fatal("no session cookie after sign-in")
	return nil
}

// jarClient is a client with a cookie jar of its own that follows no redirects.
func jarClient() *http.Client {
	c := testenv.NoRedirects()
	c.Jar, _ = cookiejar.New(nil)
	return c
}

// TestAdminCookieNotSentToApp (issue 8 item 4): the dashboard's session cookie
// does not reach the app behind the public site. Cookies do not isolate ports,
// so with the dashboard on another port of the same host name a browser would
// send it along; it is scoped to /admin, and the public directive removes it
// from whatever it passes on to the app. With the dashboard on a host name of
// its own (the example's layout) the browser does not send it at all.
func TestAdminCookieNotSentToApp(t *testing.T) {
	rec := newCookieRecorder(t)
	sameHost := cookieSites(t, rec, fmt.Sprintf(":%d", adminPort))
	ownHost := cookieSites(t, rec, fmt.Sprintf("http://127.0.0.1:%d", adminPort))
	tester := caddytest.NewTester(t)
	// Unload before t.TempDir removes the stores: cleanups run last-registered first.
	t.Cleanup(func() { tester.InitServer("{\n\tadmin localhost:2999\n}\n", "caddyfile") })

	// The same host name on two ports: the cookie jar sends the cookie to both.
	tester.InitServer(sameHost, "caddyfile")
	client := jarClient()
	signIn(t, client, adminBase)
	for _, path := range []string{"/", "/admin/", "/admin/users", "/login"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if rec.saw("pwreset_admin") {
		t.Error("the app behind the public site received the dashboard's session cookie")
	}

	// The example's layout: the dashboard on its own host name.
	tester.InitServer(ownHost, "caddyfile")
	client = jarClient()
	signIn(t, client, fmt.Sprintf("http://127.0.0.1:%d", adminPort))
	appURL, _ := url.Parse(base + "/admin/users")
	if cookies := client.Jar.Cookies(appURL); len(cookies) != 0 {
		t.Errorf("a browser would send %v to the app's host name", cookies)
	}
}

// TestAdminSessionBoundToClient (issue 8 item 4): a copied session cookie alone
// does not open the dashboard: presented by another client (another address or
// browser), the session is refused and ended.
func TestAdminSessionBoundToClient(t *testing.T) {
	as := newAdminStack(t, "")
	as.login()
	var session *http.Cookie
	for _, c := range as.admin.Jar.Cookies(&url.URL{Scheme: "http", Host: "localhost:9081", Path: "/admin/"}) {
		if c.Name == "pwreset_admin" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie in the admin client's jar")
	}
	req, _ := http.NewRequest("GET", adminBase+"/admin/users", nil)
	req.AddCookie(session)
	req.Header.Set("User-Agent", "curl/8.0 (the app replaying a copied cookie)")
	resp, err := testenv.NoRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("a copied cookie from another client: %d to %q, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The session was ended: the admin signs in again.
	if resp, _ := as.dash("GET", "/admin/users", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the admin's own session after a replay: %d, want ended", resp.StatusCode)
	}
	found := false
	for _, e := range as.audit() {
		found = found || e.Type == "admin_session_refused"
	}
	if !found {
		t.Error("no admin_session_refused entry in the audit log")
	}
}

// TestAdminSharedHostRefused (issue 8 item 4): Caddy refuses a config whose
// admin site serves a host name another site serves, whatever the ports.
func TestAdminSharedHostRefused(t *testing.T) {
	rec := newCookieRecorder(t)
	cfg := strings.Replace(cookieSites(t, rec, fmt.Sprintf("http://localhost:%d", adminPort)),
		fmt.Sprintf("\n:%d {\n\tpassword_reset\n", httpPort), fmt.Sprintf("\nhttp://localhost:%d {\n\tpassword_reset\n", httpPort), 1)
	caddytest.AssertLoadError(t, cfg, "caddyfile", "both serve the host name localhost")
}

// TestTrustedAdminOneSession (issue 8 item 14): with `token none`, cookie-less
// requests of one admin from one client share one session and one sign-in
// entry in the audit log.
func TestTrustedAdminOneSession(t *testing.T) {
	as := newAdminStack(t, "")
	before := 0
	for _, e := range as.audit() {
		if e.Type == "admin_login" {
			before++
		}
	}
	for range 25 {
		req, _ := http.NewRequest("GET", guardBase+"/admin/users", nil)
		req.SetBasicAuth(guardUser, guardPass)
		resp, err := testenv.NoRedirects().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET behind basic_auth: %d", resp.StatusCode)
		}
	}
	logins := 0
	for _, e := range as.audit() {
		if e.Type == "admin_login" {
			logins++
		}
	}
	if logins-before != 1 {
		t.Errorf("25 cookie-less requests made %d admin_login entries, want 1", logins-before)
	}
}
