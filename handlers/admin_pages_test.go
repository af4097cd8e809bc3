package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// The dashboard (admin_pages.go): sign-in, sessions bound to their browser,
// sign-out, and the pages behind them.

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

// newDashboard serves the admin handler; a request's X-Test-IP header, when
// set, is the client's address, so that a test can come from elsewhere.
func newDashboard(t *testing.T) *adminEnv {
	t.Helper()
	return serveAdmin(t, testenv.NewStack(t), AdminConfig{ClientIP: func(r *http.Request) string {
		if ip := r.Header.Get("X-Test-IP"); ip != "" {
			return ip
		}
		return remoteHost(r)
	}})
}

// TestDashboardSignIn: the sign-in form exchanges the token, posted with its
// CSRF token from the same site, for a session cookie scoped to /admin that
// scripts cannot read and other sites cannot send; anything else is refused
// with its page and opens no session.
func TestDashboardSignIn(t *testing.T) {
	a := newDashboard(t)
	login := a.browse(t, firefox, "/admin/login", nil)
	wantPage(t, "the sign-in page", login, http.StatusOK, "Sign in", `name="token" type="password"`)
	csrf, cookie := hiddenField(t, login.body, "_csrf"), login.cookie(t, "pwreset_csrf")
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value != csrf {
		t.Errorf("the CSRF cookie %+v", cookie)
	}
	other := &http.Cookie{Name: "pwreset_csrf", Value: strings.Repeat("B", 26)}
	form := func(token string, extra ...string) url.Values {
		return withFields(url.Values{"_csrf": {csrf}, "username": {"admin"}, "token": {token}}, extra...)
	}
	for _, tt := range []struct {
		name     string
		form     url.Values
		cookies  []*http.Cookie
		fetchSit string // Sec-Fetch-Site
		status   int
		text     string
	}{
		{"no CSRF cookie", form(adminSecret), nil, "", 403, "the form was sent from another site"},
		{"no CSRF field", form(adminSecret, "_csrf", ""), []*http.Cookie{cookie}, "", 403, "Reload the sign-in page"},
		{"another CSRF token", form(adminSecret), []*http.Cookie{other}, "", 403, "Reload the sign-in page"},
		{"from another site", form(adminSecret), []*http.Cookie{cookie}, "cross-site", 403, "Reload the sign-in page"},
		{"wrong token", form(strings.Repeat("0", 32)), []*http.Cookie{cookie}, "", 401, "That token is not valid."},
		{"empty token", form(""), []*http.Cookie{cookie}, "", 401, "That token is not valid."},
		{"unknown field", form(adminSecret, "remember", "yes"), []*http.Cookie{cookie}, "", 400, "The form could not be read."},
		{"too large", form(adminSecret, "username", strings.Repeat("a", maxRequestBody)), []*http.Cookie{cookie}, "", 413, "The form could not be read."},
	} {
		req := newRequest(t, http.MethodPost, a.url+"/admin/login", ctForm, tt.form.Encode())
		req.Header.Set("User-Agent", firefox)
		if tt.fetchSit != "" {
			req.Header.Set("Sec-Fetch-Site", tt.fetchSit)
		}
		for _, c := range tt.cookies {
			req.AddCookie(c)
		}
		got := fetch(t, req)
		wantPage(t, tt.name, got, tt.status, tt.text)
		if s := setCookie(got, "pwreset_admin"); s != nil {
			t.Errorf("%s: a session cookie %+v", tt.name, s)
		}
	}

	got := a.browse(t, firefox, "/admin/login", form(adminSecret), cookie)
	if got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/admin/users" {
		t.Fatalf("sign-in: %d %q, want 303 to /admin/users\n%s", got.StatusCode, got.Header.Get("Location"), got.body)
	}
	session := got.cookie(t, "pwreset_admin")
	if session.Path != "/admin" || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure ||
		session.MaxAge != int(8*time.Hour/time.Second) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(session.Value) {
		t.Errorf("the session cookie %+v, want Path=/admin, HttpOnly, SameSite=Strict, 8 hours, 256 bits", session)
	}
	if raw := strings.Join(got.Header.Values("Set-Cookie"), "\n"); strings.Contains(raw, adminSecret) {
		t.Errorf("the token is in a cookie: %s", raw)
	}
	users := a.browse(t, firefox, "/admin/users", nil, session)
	wantPage(t, "the first page", users, http.StatusOK, `data-testid="actor">ops<`, "Find user")
	if !auditHas(t, a.Admin, audit.AdminLogin, adminTokenName) {
		t.Error("no admin_login audit entry by ops")
	}
	if put := send(t, http.MethodPut, a.url+"/admin/login", ctForm, ""); put.StatusCode != http.StatusMethodNotAllowed || put.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT /admin/login: %d Allow %q", put.StatusCode, put.Header.Get("Allow"))
	}
}

// TestDashboardNeedsSession: without a session the pages send to the sign-in
// page and the forms are refused; a cookie that names no session is no
// session. The stylesheet needs none.
func TestDashboardNeedsSession(t *testing.T) {
	a := newDashboard(t)
	bogus := &http.Cookie{Name: "pwreset_admin", Value: strings.Repeat("0", 64)}
	for _, tt := range []struct {
		name, path string
		form       url.Values
		cookies    []*http.Cookie
		status     int
		location   string
	}{
		{"users", "/admin/users", nil, nil, 303, "/admin/login"},
		{"home", "/admin/", nil, nil, 303, "/admin/login"},
		{"templates", "/admin/templates/reset_email", nil, nil, 303, "/admin/login"},
		{"an unknown page", "/admin/nope", nil, nil, 303, "/admin/login"},
		{"a cookie naming no session", "/admin/users", nil, []*http.Cookie{bogus}, 303, "/admin/login"},
		{"the token as the cookie", "/admin/users", nil, []*http.Cookie{{Name: "pwreset_admin", Value: adminSecret}}, 303, "/admin/login"},
		{"/admin", "/admin", nil, nil, 303, "/admin/"},
		{"sign out", "/admin/logout", url.Values{"_csrf": {"x"}}, nil, 401, ""},
		{"set a password", "/admin/users/password", url.Values{"email": {"alice@example.com"}}, []*http.Cookie{bogus}, 401, ""},
	} {
		got := a.browse(t, firefox, tt.path, tt.form, tt.cookies...)
		if got.StatusCode != tt.status || got.Header.Get("Location") != tt.location {
			t.Errorf("%s: %d %q, want %d %q", tt.name, got.StatusCode, got.Header.Get("Location"), tt.status, tt.location)
		}
		if tt.status == 401 {
			wantPage(t, tt.name, got, 401, "Your session ended. Sign in again.")
		}
	}
	css := a.browse(t, firefox, "/admin/static/admin.css", nil)
	if css.StatusCode != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") ||
		css.Header.Get("Cache-Control") != "no-cache" || css.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the stylesheet: %d %v", css.StatusCode, css.Header)
	}
}

// TestDashboardCopiedCookie: a session cookie presented by another browser (a
// User-Agent or an address it was not opened for) is refused, and the session
// ends for its own browser too, recorded in the audit log.
func TestDashboardCopiedCookie(t *testing.T) {
	for _, tt := range []struct {
		name      string
		userAgent string
		ip        string
	}{
		{"another User-Agent", "curl/8.9.1", ""},
		{"another address", firefox, "203.0.113.9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newDashboard(t)
			session := a.signIn(t, firefox, adminSecret)
			req := newRequest(t, http.MethodGet, a.url+"/admin/users", "", "")
			req.Header.Set("User-Agent", tt.userAgent)
			if tt.ip != "" {
				req.Header.Set("X-Test-IP", tt.ip)
			}
			req.AddCookie(session)
			if got := fetch(t, req); got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/admin/login" {
				t.Errorf("the copied cookie: %d %q, want 303 to /admin/login", got.StatusCode, got.Header.Get("Location"))
			}
			if got := a.browse(t, firefox, "/admin/users", nil, session); got.StatusCode != http.StatusSeeOther {
				t.Errorf("the session after its cookie was copied: %d, want it ended", got.StatusCode)
			}
			if !auditHas(t, a.Admin, audit.AdminSessionRefused, adminTokenName) {
				t.Error("no admin_session_refused audit entry")
			}
		})
	}
}

// TestDashboardLogout: signing out needs the session's CSRF token; it ends the
// session and clears its cookie.
func TestDashboardLogout(t *testing.T) {
	a := newDashboard(t)
	session := a.signIn(t, firefox, adminSecret)
	page := a.browse(t, firefox, "/admin/users", nil, session)
	csrf := hiddenField(t, page.body, "_csrf")
	for _, tt := range []struct {
		name string
		form url.Values
	}{
		{"no CSRF token", url.Values{}},
		{"another CSRF token", url.Values{"_csrf": {strings.Repeat("E", 26)}}},
		{"the CSRF cookie's token", url.Values{"_csrf": {strings.Repeat("F", 26)}}},
	} {
		wantPage(t, tt.name, a.browse(t, firefox, "/admin/logout", tt.form, session, &http.Cookie{Name: "pwreset_csrf", Value: strings.Repeat("F", 26)}),
			http.StatusForbidden, "security token is missing or stale")
	}
	if got := a.browse(t, firefox, "/admin/users", nil, session); got.StatusCode != http.StatusOK {
		t.Fatalf("the session after refused sign-outs: %d", got.StatusCode)
	}
	got := a.browse(t, firefox, "/admin/logout", url.Values{"_csrf": {csrf}}, session)
	if got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/admin/login" {
		t.Fatalf("sign-out: %d %q", got.StatusCode, got.Header.Get("Location"))
	}
	if c := got.cookie(t, "pwreset_admin"); c.MaxAge >= 0 || c.Value != "" || c.Path != "/admin" {
		t.Errorf("the cleared cookie %+v, want Max-Age<0 on /admin", c)
	}
	if after := a.browse(t, firefox, "/admin/users", nil, session); after.StatusCode != http.StatusSeeOther {
		t.Errorf("the old cookie after sign-out: %d, want 303 to the sign-in page", after.StatusCode)
	}
}

// TestDashboardPages: what a signed-in admin gets from each page and form.
func TestDashboardPages(t *testing.T) {
	a := newDashboard(t)
	session := a.signIn(t, firefox, adminSecret)
	csrf := hiddenField(t, a.browse(t, firefox, "/admin/users", nil, session).body, "_csrf")
	post := func(path string, fields ...string) fetched {
		return a.browse(t, firefox, path, withFields(url.Values{"_csrf": {csrf}}, fields...), session)
	}
	get := func(path string) fetched { return a.browse(t, firefox, path, nil, session) }
	alice := []string{"connection", testenv.Conn, "email", "alice@example.com"}
	template := []string{"from", "", "subject", "Reset {{ application.name }}", "body", "<p>{{ url }}</p>", "text", "",
		"url_lifetime", "3600", "result_url", "", "include_email", "on", "enabled", "on"}
	with := func(base []string, more ...string) []string { return append(append([]string(nil), base...), more...) }

	for _, tt := range []struct {
		name     string
		got      func() fetched
		status   int
		location string
		text     string
	}{
		{"home", func() fetched { return get("/admin/") }, 303, "/admin/users", ""},
		{"users", func() fetched { return get("/admin/users") }, 200, "", "Find user"},
		{"a user", func() fetched { return get("/admin/users?email=alice%40example.com") }, 200, "", `data-testid="user-id">user-alice<`},
		{"no such user", func() fetched { return get("/admin/users?email=nobody%40example.com") }, 404, "", "No user with that email in " + testenv.Conn},
		{"templates", func() fetched { return get("/admin/templates/") }, 303, "/admin/templates/reset_email", ""},
		{"a template", func() fetched { return get("/admin/templates/reset_email") }, 200, "", "template-form"},
		{"no such template", func() fetched { return get("/admin/templates/nope") }, 404, "", "The template does not exist: nope"},
		{"outbox", func() fetched { return get("/admin/outbox") }, 200, "", "Outbox"},
		{"outbox, bad state", func() fetched { return get("/admin/outbox?state=lost") }, 400, "", "state must be"},
		{"logs", func() fetched { return get("/admin/logs") }, 200, "", "admin_login"},
		{"no such page", func() fetched { return get("/admin/nope") }, 404, "", "There is no such page."},
		{"set a password", func() fetched {
			return post("/admin/users/password", with(alice, "user_id", "user-alice", "newPassword", goodPassword, "confirmNewPassword", goodPassword)...)
		}, 200, "", "The password of alice@example.com was changed."},
		{"passwords differ", func() fetched {
			return post("/admin/users/password", with(alice, "user_id", "user-alice", "newPassword", goodPassword, "confirmNewPassword", "x")...)
		}, 400, "", "The two passwords are not the same."},
		{"weak password", func() fetched {
			return post("/admin/users/password", with(alice, "user_id", "user-alice", "newPassword", "abc", "confirmNewPassword", "abc")...)
		}, 400, "", "PasswordStrengthError"},
		{"the user changed", func() fetched {
			return post("/admin/users/password", with(alice, "user_id", "user-bob", "newPassword", goodPassword, "confirmNewPassword", goodPassword)...)
		}, 409, "", "The user changed since the page was loaded"},
		{"a stale form", func() fetched {
			return a.browse(t, firefox, "/admin/users/password", url.Values{"_csrf": {strings.Repeat("G", 26)}, "email": {"alice@example.com"}}, session)
		}, 403, "", "security token is missing or stale"},
		{"a form from another site", func() fetched {
			req := newRequest(t, http.MethodPost, a.url+"/admin/users/password", ctForm, url.Values{"_csrf": {csrf}}.Encode())
			req.Header.Set("User-Agent", firefox)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.AddCookie(session)
			return fetch(t, req)
		}, 403, "", "This form was sent from another site."},
		{"a reset link", func() fetched { return post("/admin/users/ticket", with(alice, "ttl", "600")...) }, 200, "", "Reset link for alice@example.com"},
		{"a bad lifetime", func() fetched { return post("/admin/users/ticket", with(alice, "ttl", "soon")...) }, 400, "", "The lifetime must be a number of seconds."},
		{"a reset email", func() fetched { return post("/admin/users/reset-email", with(alice, "client_id", "demo-app")...) }, 200, "", "A reset email to alice@example.com is on its way"},
		{"a blocked user's link", func() fetched {
			return post("/admin/users/ticket", "connection", testenv.Conn, "email", "carol@example.com")
		}, 400, "", "a blocked user cannot reset a password"},
		{"preview", func() fetched { return post("/admin/templates/reset_email", with(template, "action", "preview")...) }, 200, "", "Reset Demo App"},
		{"save", func() fetched { return post("/admin/templates/reset_email", with(template, "action", "save")...) }, 200, "", "Saved as version 2."},
		{"save a broken template", func() fetched {
			return post("/admin/templates/reset_email", with(template, "action", "save", "body", "{% if %}")...)
		}, 400, "", "The template was not saved"},
		{"neither preview nor save", func() fetched { return post("/admin/templates/reset_email", with(template, "action", "publish")...) }, 400, "", "Choose Preview or Save."},
		{"restore", func() fetched { return post("/admin/templates/reset_email/restore", "version", "1") }, 200, "", "Version 1 restored as version 3."},
		{"restore a missing version", func() fetched { return post("/admin/templates/reset_email/restore", "version", "9") }, 404, "", "has no version 9"},
		{"retry a missing message", func() fetched { return post("/admin/outbox/retry", "id", "nope") }, 404, "", "No such message in the outbox"},
	} {
		got := tt.got()
		if got.StatusCode != tt.status || got.Header.Get("Location") != tt.location {
			t.Errorf("%s: %d %q, want %d %q\n%s", tt.name, got.StatusCode, got.Header.Get("Location"), tt.status, tt.location, got.body)
			continue
		}
		if tt.status != 303 {
			wantPage(t, tt.name, got, tt.status, tt.text)
		}
	}
	if !a.App.CheckPassword("alice@example.com", goodPassword) {
		t.Error("the dashboard did not set alice's password")
	}
	a.Box.WaitResetMail(t, "alice@example.com", 0)
}

// TestDashboardPreviewFrame: a preview is served to the session that made it,
// sandboxed, and to no other.
func TestDashboardPreviewFrame(t *testing.T) {
	a := newDashboard(t)
	session := a.signIn(t, firefox, adminSecret)
	csrf := hiddenField(t, a.browse(t, firefox, "/admin/templates/reset_email", nil, session).body, "_csrf")
	page := a.browse(t, firefox, "/admin/templates/reset_email", url.Values{"_csrf": {csrf}, "action": {"preview"},
		"subject": {"S"}, "body": {`<p style="color:red">{{ url }}</p>`}, "url_lifetime": {"3600"}, "enabled": {"on"}}, session)
	m := regexp.MustCompile(`src="(/admin/templates/reset_email/preview/[a-z0-9]+)"`).FindStringSubmatch(page.body)
	if page.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("preview: %d, no frame\n%s", page.StatusCode, page.body)
	}
	frame := a.browse(t, firefox, m[1], nil, session)
	if frame.StatusCode != http.StatusOK || !strings.Contains(frame.body, "PREVIEW-NOT-A-REAL-TICKET") ||
		!strings.Contains(frame.Header.Get("Content-Security-Policy"), "sandbox") || frame.Header.Get("X-Frame-Options") != "SAMEORIGIN" ||
		strings.Contains(frame.Header.Get("Content-Security-Policy"), "script-src") {
		t.Errorf("the frame: %d %v\n%s", frame.StatusCode, frame.Header, frame.body)
	}
	other := a.signIn(t, firefox, adminSecret)
	wantPage(t, "another session's preview", a.browse(t, firefox, m[1], nil, other), http.StatusNotFound, "Preview gone")
}

// TestDashboardSessionSurvivesANewConnection: with the default ClientIP (none
// configured), a session is bound to the client's address. A browser opens new
// connections (from new ports) all the time: its next page must not end its
// session as if the cookie had been copied.
func TestDashboardSessionSurvivesANewConnection(t *testing.T) {
	st := testenv.NewStack(t)
	h, err := NewAdmin(st.Admin, AdminConfig{Tokens: []AdminToken{{Name: adminTokenName, Secret: adminSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &adminEnv{Stack: st, url: srv.URL}
	session := a.signIn(t, firefox, adminSecret) // one kept connection
	req := newRequest(t, http.MethodGet, a.url+"/admin/users", "", "")
	req.Header.Set("User-Agent", firefox)
	req.AddCookie(session)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := fresh.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the same browser on a new connection: %d %q, want 200 (the session is bound to the address and port)",
			resp.StatusCode, resp.Header.Get("Location"))
	}
}
