package demoapp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

var testSecret = []byte("test-hook-secret-0123456789abcdef")

const (
	lookupPath   = "/internal/users/lookup"
	passwordPath = "/internal/users/password"
)

// newServer starts the app with its default users behind a real HTTP server.
func newServer(t *testing.T) (*App, *httptest.Server) {
	t.Helper()
	app, err := New(Config{Secret: testSecret})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)
	return app, srv
}

// browser returns a client with its own cookie jar, as one browser profile.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// get fetches url with c and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, readBody(t, resp)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// login posts the login form with c and returns the final page after redirects.
func login(t *testing.T, c *http.Client, base, email, password string) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	return resp, readBody(t, resp)
}

// callHook sends a hook call signed with secret for hookName, as the plugin does.
func callHook(t *testing.T, base, path string, secret []byte, hookName string, body any) (int, string) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != nil {
		sig := hook.Signature{Hook: hookName, ID: fmt.Sprintf("call-%d", time.Now().UnixNano()), Timestamp: time.Now()}
		hook.SetHeaders(req.Header, secret, sig, raw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp.StatusCode, readBody(t, resp)
}

func lookup(t *testing.T, base, email string) (int, string) {
	t.Helper()
	return callHook(t, base, lookupPath, testSecret, hook.GetUser,
		hook.GetUserRequest{Connection: Connection, Email: email})
}

func changePassword(t *testing.T, base, userID, password string, endSessions bool) (int, string) {
	t.Helper()
	return callHook(t, base, passwordPath, testSecret, hook.ChangePassword, hook.ChangePasswordRequest{
		Connection: Connection, UserID: userID, Password: password,
		Reason: hook.ReasonReset, EndSessions: endSessions,
	})
}

func TestSeededPasswords(t *testing.T) {
	app, _ := newServer(t)
	for _, u := range DefaultUsers() {
		if !app.CheckPassword(u.Email, u.Password) {
			t.Errorf("CheckPassword(%s, seeded password) = false", u.Email)
		}
		if app.CheckPassword(u.Email, u.Password+"x") {
			t.Errorf("CheckPassword(%s, wrong password) = true", u.Email)
		}
	}
	if app.CheckPassword("nobody@example.com", "") {
		t.Error("CheckPassword for an unknown email = true")
	}
}

func TestHashesArePHCArgon2id(t *testing.T) {
	h, err := hashPassword("alice-old-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string with the OWASP parameters", h)
	}
	if h2, _ := hashPassword("alice-old-password-1"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=x$AAAA$AAAA", h + "$"} {
		if verifyPassword(bad, "alice-old-password-1") {
			t.Errorf("verifyPassword accepted the malformed hash %q", bad)
		}
	}
}

func TestLoginPage(t *testing.T) {
	_, srv := newServer(t)
	code, body := get(t, browser(t), srv.URL+"/login")
	if code != http.StatusOK {
		t.Fatalf("GET /login = %d", code)
	}
	for _, want := range []string{
		`<label for="email">`, `id="email" name="email" type="email" autocomplete="username"`,
		`<label for="password">`, `autocomplete="current-password"`,
		`href="/lo/forgot?client_id=demo-app&amp;connection=Username-Password-Authentication"`,
		"Forgot your password?",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
}

func TestLoginWithSeededPassword(t *testing.T) {
	app, srv := newServer(t)
	c := browser(t)
	resp, body := login(t, c, srv.URL, "alice@example.com", "alice-old-password-1")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in as <strong>Alice Liddell</strong> (alice@example.com)") {
		t.Fatalf("after login: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(body, `action="/logout"`) {
		t.Error("home page has no sign-out form")
	}
	if n := app.Sessions("alice@example.com"); n != 1 {
		t.Errorf("Sessions(alice) = %d, want 1", n)
	}

	_, body = get(t, c, srv.URL+"/") // the cookie keeps the session
	if !strings.Contains(body, "Signed in as") {
		t.Fatalf("home page after login does not show the user: %q", body)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	_, srv := newServer(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := login(t, c, srv.URL, "bob@example.com", "bob-old-password-1")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login = %d, want 303", resp.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie set")
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", session)
	}
	if len(session.Value) != 43 { // 32 bytes, base64url without padding
		t.Errorf("session token %q has %d characters, want 43", session.Value, len(session.Value))
	}
	if session.Secure {
		t.Error("cookie is Secure on plain HTTP")
	}
}

func TestSecureCookieBehindHTTPSProxy(t *testing.T) {
	_, srv := newServer(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login",
		strings.NewReader("email=bob%40example.com&password=bob-old-password-1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cks := resp.Cookies(); len(cks) == 0 || !cks[len(cks)-1].Secure {
		t.Fatalf("cookies %v: want a Secure session cookie behind an HTTPS proxy", cks)
	}
}

func TestLoginRefusals(t *testing.T) {
	app, srv := newServer(t)
	tests := []struct{ name, email, password string }{
		{"wrong password", "alice@example.com", "alice-old-password-2"},
		{"unknown email", "mallory@example.com", "alice-old-password-1"},
		{"blocked user", "carol@example.com", "carol-old-password-1"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := browser(t)
			resp, body := login(t, c, srv.URL, tt.email, tt.password)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Wrong email or password.") {
				t.Fatalf("POST /login = %d %q, want the login page with the error", resp.StatusCode, body)
			}
			if u, _ := url.Parse(srv.URL); len(c.Jar.Cookies(u)) != 0 {
				t.Fatalf("a refused login set cookies: %v", c.Jar.Cookies(u))
			}
		})
	}
	if n := app.Sessions("carol@example.com"); n != 0 {
		t.Errorf("blocked carol has %d sessions", n)
	}
}

func TestLogout(t *testing.T) {
	app, srv := newServer(t)
	c := browser(t)
	login(t, c, srv.URL, "alice@example.com", "alice-old-password-1")
	resp, err := c.Post(srv.URL+"/logout", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if !strings.Contains(body, "You are not signed in.") || !strings.Contains(body, `href="/login"`) {
		t.Fatalf("after logout: %q", body)
	}
	if n := app.Sessions("alice@example.com"); n != 0 {
		t.Errorf("Sessions(alice) after logout = %d", n)
	}
}

func TestCrossSitePostRefused(t *testing.T) {
	app, srv := newServer(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login",
		strings.NewReader("email=alice%40example.com&password=alice-old-password-1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST /login = %d, want 403", resp.StatusCode)
	}
	if app.Sessions("alice@example.com") != 0 {
		t.Fatal("a cross-site login opened a session")
	}
}

func TestLoginBannerAfterReset(t *testing.T) {
	_, srv := newServer(t)
	q := url.Values{
		"success": {"true"},
		"message": {"You can now login to the application with the new password.<script>alert(1)</script>"},
		"email":   {`alice@example.com"><script>x</script>`},
	}
	_, body := get(t, browser(t), srv.URL+"/login?"+q.Encode())
	if strings.Contains(body, "<script") {
		t.Fatalf("query parameters reached the page unescaped: %q", body)
	}
	for _, want := range []string{
		`role="status"`,
		"You can now login to the application with the new password.&lt;script&gt;",
		`value="alice@example.com&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}

	q = url.Values{"success": {"false"}, "message": {"This URL can be used only once"}}
	_, body = get(t, browser(t), srv.URL+"/login?"+q.Encode())
	if !strings.Contains(body, `role="alert">This URL can be used only once`) {
		t.Errorf("failure banner missing: %q", body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, srv := newServer(t)
	for _, path := range []string{"/", "/login"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
			t.Errorf("%s: inline script or style in the page", path)
		}
	}
}

func TestLookup(t *testing.T) {
	app, srv := newServer(t)
	tests := []struct {
		email      string
		wantCode   int
		wantID     string
		wantBlock  bool
		wantStored string
	}{
		{"alice@example.com", 200, "user-alice", false, "alice@example.com"},
		{"ALICE@Example.COM", 200, "user-alice", false, "alice@example.com"},
		{"carol@example.com", 200, "user-carol", true, "carol@example.com"},
		{"mallory@example.com", 404, "", false, ""},
		{"", 404, "", false, ""},
	}
	for _, tt := range tests {
		code, body := lookup(t, srv.URL, tt.email)
		if code != tt.wantCode {
			t.Errorf("lookup %q = %d %s, want %d", tt.email, code, body, tt.wantCode)
			continue
		}
		if code != http.StatusOK {
			continue
		}
		var u hook.User
		if err := json.Unmarshal([]byte(body), &u); err != nil {
			t.Fatalf("lookup %q: %v in %s", tt.email, err, body)
		}
		if u.UserID != tt.wantID || u.Blocked != tt.wantBlock || u.Email != tt.wantStored || !u.EmailVerified {
			t.Errorf("lookup %q = %+v", tt.email, u)
		}
	}
	code, body := lookup(t, srv.URL, "alice@example.com")
	if code != 200 || !strings.Contains(body, `"name":"Alice Liddell"`) || strings.Contains(body, "argon2") {
		t.Errorf("alice's record = %s", body)
	}
	if n := app.HookCalls(hook.GetUser); n != len(tests)+1 {
		t.Errorf("HookCalls(get_user) = %d, want %d", n, len(tests)+1)
	}
}

// TestHookSignatures sends calls that must all be refused with 401 and no detail.
func TestHookSignatures(t *testing.T) {
	app, srv := newServer(t)
	lookupBody := hook.GetUserRequest{Connection: Connection, Email: "alice@example.com"}
	changeBody := hook.ChangePasswordRequest{UserID: "user-alice", Password: "a-brand-new-password"}
	tests := []struct {
		name, path string
		secret     []byte
		hookName   string
		body       any
	}{
		{"unsigned lookup", lookupPath, nil, hook.GetUser, lookupBody},
		{"wrong secret lookup", lookupPath, []byte("guess"), hook.GetUser, lookupBody},
		{"unsigned change", passwordPath, nil, hook.ChangePassword, changeBody},
		{"wrong secret change", passwordPath, []byte("guess"), hook.ChangePassword, changeBody},
		{"get_user call replayed on change_password", passwordPath, testSecret, hook.GetUser, changeBody},
		{"change_password call sent to lookup", lookupPath, testSecret, hook.ChangePassword, lookupBody},
	}
	for _, tt := range tests {
		code, body := callHook(t, srv.URL, tt.path, tt.secret, tt.hookName, tt.body)
		if code != http.StatusUnauthorized || body != "Unauthorized\n" {
			t.Errorf("%s: %d %q, want 401 with no detail", tt.name, code, body)
		}
	}
	if app.HookCalls(hook.GetUser) != 0 || app.HookCalls(hook.ChangePassword) != 0 || app.PasswordChanges() != 0 {
		t.Error("refused calls were counted or acted on")
	}
	if !app.CheckPassword("alice@example.com", "alice-old-password-1") {
		t.Error("a refused call changed alice's password")
	}
}

func TestHookStaleSignature(t *testing.T) {
	_, srv := newServer(t)
	raw := []byte(`{"email":"alice@example.com"}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+lookupPath, bytes.NewReader(raw))
	old := hook.Signature{Hook: hook.GetUser, ID: "old", Timestamp: time.Now().Add(-time.Hour)}
	hook.SetHeaders(req.Header, testSecret, old, raw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stale call = %d, want 401", resp.StatusCode)
	}
}

func TestHookBadBodies(t *testing.T) {
	_, srv := newServer(t)
	send := func(raw []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+passwordPath, bytes.NewReader(raw))
		sig := hook.Signature{Hook: hook.ChangePassword, ID: "x", Timestamp: time.Now()}
		hook.SetHeaders(req.Header, testSecret, sig, raw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send([]byte(`{"user_id":`)); code != http.StatusBadRequest {
		t.Errorf("malformed JSON = %d, want 400", code)
	}
	if code := send(bytes.Repeat([]byte(" "), hook.MaxBodyBytes+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", code)
	}
}

func TestChangePassword(t *testing.T) {
	app, srv := newServer(t)
	const newPassword = "alice-new-password-2"
	if code, body := changePassword(t, srv.URL, "user-alice", newPassword, false); code != http.StatusNoContent {
		t.Fatalf("change_password = %d %q, want 204", code, body)
	}
	if !app.CheckPassword("alice@example.com", newPassword) || app.CheckPassword("alice@example.com", "alice-old-password-1") {
		t.Fatal("the new password does not replace the old one")
	}
	if app.PasswordChanges() != 1 || app.HookCalls(hook.ChangePassword) != 1 {
		t.Errorf("PasswordChanges = %d, HookCalls = %d, want 1 and 1", app.PasswordChanges(), app.HookCalls(hook.ChangePassword))
	}

	_, body := login(t, browser(t), srv.URL, "alice@example.com", "alice-old-password-1")
	if !strings.Contains(body, "Wrong email or password.") {
		t.Error("the old password still signs in")
	}
	_, body = login(t, browser(t), srv.URL, "alice@example.com", newPassword)
	if !strings.Contains(body, "Signed in as") {
		t.Errorf("the new password does not sign in: %q", body)
	}
}

func TestChangePasswordRefusals(t *testing.T) {
	app, srv := newServer(t)
	tests := []struct {
		name, userID, password string
		wantCode               int
		wantMessage            string
	}{
		{"same as current", "user-alice", "alice-old-password-1", 422, msgSamePassword},
		{"empty", "user-alice", "", 422, msgEmptyPassword},
		{"unknown user", "user-mallory", "whatever-password-1", 404, ""},
	}
	for _, tt := range tests {
		code, body := changePassword(t, srv.URL, tt.userID, tt.password, true)
		if code != tt.wantCode {
			t.Errorf("%s: %d %q, want %d", tt.name, code, body, tt.wantCode)
			continue
		}
		if tt.wantMessage == "" {
			continue
		}
		var e hook.ErrorResponse
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message != tt.wantMessage {
			t.Errorf("%s: body %q, want message %q", tt.name, body, tt.wantMessage)
		}
	}
	if app.PasswordChanges() != 0 {
		t.Errorf("PasswordChanges = %d after refusals", app.PasswordChanges())
	}
	if !app.CheckPassword("alice@example.com", "alice-old-password-1") {
		t.Error("a refused change altered the password")
	}
}

func TestChangePasswordEndsSessions(t *testing.T) {
	app, srv := newServer(t)
	alice1, alice2, bob := browser(t), browser(t), browser(t)
	login(t, alice1, srv.URL, "alice@example.com", "alice-old-password-1")
	login(t, alice2, srv.URL, "alice@example.com", "alice-old-password-1")
	login(t, bob, srv.URL, "bob@example.com", "bob-old-password-1")
	if app.Sessions("alice@example.com") != 2 || app.Sessions("bob@example.com") != 1 {
		t.Fatalf("sessions before: alice %d, bob %d", app.Sessions("alice@example.com"), app.Sessions("bob@example.com"))
	}

	// Without EndSessions the sessions stay.
	if code, _ := changePassword(t, srv.URL, "user-alice", "alice-new-password-2", false); code != http.StatusNoContent {
		t.Fatalf("change_password = %d", code)
	}
	if _, body := get(t, alice1, srv.URL+"/"); !strings.Contains(body, "Signed in as") {
		t.Fatal("a change without end_sessions ended a session")
	}

	if code, _ := changePassword(t, srv.URL, "user-alice", "alice-new-password-3", true); code != http.StatusNoContent {
		t.Fatalf("change_password = %d", code)
	}
	for i, c := range []*http.Client{alice1, alice2} {
		if _, body := get(t, c, srv.URL+"/"); !strings.Contains(body, "You are not signed in.") {
			t.Errorf("alice's session %d survived end_sessions", i+1)
		}
	}
	if _, body := get(t, bob, srv.URL+"/"); !strings.Contains(body, "Signed in as <strong>Bob</strong>") {
		t.Error("bob's session ended with alice's")
	}
	if app.Sessions("alice@example.com") != 0 {
		t.Errorf("Sessions(alice) = %d, want 0", app.Sessions("alice@example.com"))
	}
}

// TestConcurrentChangePassword sends 50 change_password calls at once, for two
// users, while logins and lookups run. Run with -race.
func TestConcurrentChangePassword(t *testing.T) {
	app, srv := newServer(t)
	const n = 50
	users := []struct{ id, email string }{{"user-alice", "alice@example.com"}, {"user-bob", "bob@example.com"}}
	passwords := make(map[string]bool)
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		u := users[i%2]
		password := fmt.Sprintf("%s-concurrent-%02d", u.id, i)
		passwords[password] = true
		wg.Go(func() {
			codes[i], _ = changePassword(t, srv.URL, u.id, password, i%3 == 0)
		})
	}
	for range 4 {
		wg.Go(func() { lookup(t, srv.URL, "alice@example.com") })
		wg.Go(func() { login(t, browser(t), srv.URL, "bob@example.com", "bob-old-password-1") })
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusNoContent {
			t.Errorf("call %d = %d, want 204", i, code)
		}
	}
	if got := app.PasswordChanges(); got != n {
		t.Errorf("PasswordChanges = %d, want %d", got, n)
	}
	if got := app.HookCalls(hook.ChangePassword); got != n {
		t.Errorf("HookCalls(change_password) = %d, want %d", got, n)
	}
	for _, u := range users {
		matches := 0
		for p := range passwords {
			if strings.HasPrefix(p, u.id) && app.CheckPassword(u.email, p) {
				matches++
			}
		}
		if matches != 1 {
			t.Errorf("%s: %d of the concurrent passwords match, want exactly 1", u.email, matches)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a secret succeeded")
	}
	dup := append(DefaultUsers(), DefaultUsers()[0])
	if _, err := New(Config{Secret: testSecret, Users: dup}); err == nil {
		t.Error("New with a duplicate user succeeded")
	}
	sameEmail := DefaultUsers()
	sameEmail[1].Email = "ALICE@example.com"
	if _, err := New(Config{Secret: testSecret, Users: sameEmail}); err == nil {
		t.Error("New with two users of one email (case aside) succeeded")
	}
	if _, err := New(Config{Secret: testSecret, Users: []SeedUser{{Password: "x"}}}); err == nil {
		t.Error("New with a user without ID or email succeeded")
	}
}
