package handlers

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// The admin handler's authentication (admin.go): bearer tokens, their limit,
// `token none`, and the configurations NewAdmin refuses.

const wwwAuthenticate = `Bearer realm="password-reset-admin"`

// TestAdminBearerAuth: without the right token nothing is revealed, not even
// which paths exist; a token in the URL is refused even when the header is
// right.
func TestAdminBearerAuth(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	for _, tt := range []struct {
		name, authorization, path string
		status                    int
		code, www                 string
	}{
		{"no header", "", "/api/v2/logs", 401, "missing_token", wwwAuthenticate},
		{"no header, unknown path", "", "/api/v2/nope", 401, "missing_token", wwwAuthenticate},
		{"basic scheme", "Basic b3BzOnNlY3JldA==", "/api/v2/logs", 401, "missing_token", wwwAuthenticate},
		{"empty bearer", "Bearer ", "/api/v2/logs", 401, "missing_token", wwwAuthenticate},
		{"bare token", adminSecret, "/api/v2/logs", 401, "missing_token", wwwAuthenticate},
		{"wrong token", "Bearer " + strings.Repeat("0", 32), "/api/v2/logs", 401, "invalid_token", wwwAuthenticate + `, error="invalid_token"`},
		{"right token with a suffix", "Bearer " + adminSecret + "x", "/api/v2/logs", 401, "invalid_token", wwwAuthenticate + `, error="invalid_token"`},
		{"wrong token, unknown path", "Bearer " + strings.Repeat("0", 32), "/api/v2/nope", 401, "invalid_token", wwwAuthenticate + `, error="invalid_token"`},
		{"token in the query", "", "/api/v2/logs?access_token=" + adminSecret, 400, "token_in_query", ""},
		{"token in the query with the header", "Bearer " + adminSecret, "/api/v2/logs?token=" + adminSecret, 400, "token_in_query", ""},
		{"api_key in the query", "Bearer " + adminSecret, "/api/v2/logs?API_KEY=x", 400, "token_in_query", ""},
	} {
		got := a.apiAs(t, tt.authorization, http.MethodGet, tt.path, "")
		wantMgmtError(t, tt.name, got, tt.status, tt.code, "")
		if v := got.Header.Get("WWW-Authenticate"); v != tt.www {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tt.name, v, tt.www)
		}
	}
	for _, authorization := range []string{"Bearer " + adminSecret, "bearer " + adminSecret, "BEARER  " + adminSecret + " "} {
		if got := a.apiAs(t, authorization, http.MethodGet, "/api/v2/logs", ""); got.StatusCode != http.StatusOK {
			t.Errorf("%q: %d %s, want 200", authorization, got.StatusCode, got.body)
		}
	}
	page := a.browse(t, "test", "/admin/login?token="+adminSecret, nil)
	if page.StatusCode != http.StatusBadRequest || !strings.Contains(page.body, "A token in the address is refused") {
		t.Errorf("a token in the dashboard's address: %d\n%s", page.StatusCode, page.body)
	}
}

// TestAdminWrongTokenLimit: ten wrong tokens from an address are answered 401;
// the right one still works after them (it is checked first, so it is never
// locked out); the 11th wrong one is a 429 with Retry-After, until the limit
// refills. The dashboard's sign-in shares the limit.
func TestAdminWrongTokenLimit(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	wrong := "Bearer " + strings.Repeat("ab", 16)
	for i := range 10 {
		wantMgmtError(t, "wrong token "+strconv.Itoa(i+1), a.apiAs(t, wrong, http.MethodGet, "/api/v2/logs", ""), 401, "invalid_token", "Invalid token")
	}
	if got := a.api(t, http.MethodGet, "/api/v2/logs", ""); got.StatusCode != http.StatusOK {
		t.Fatalf("the right token after 10 wrong ones: %d %s", got.StatusCode, got.body)
	}
	got := a.apiAs(t, wrong, http.MethodGet, "/api/v2/logs", "")
	wantMgmtError(t, "the 11th wrong token", got, 429, "too_many_requests", "Too many wrong tokens")
	if retry, err := strconv.Atoi(got.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds", got.Header.Get("Retry-After"))
	}
	if got.Header.Get("X-RateLimit-Limit") != "10" || got.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("X-RateLimit-Limit %q, -Remaining %q, want 10 and 0", got.Header.Get("X-RateLimit-Limit"), got.Header.Get("X-RateLimit-Remaining"))
	}
	if got := a.api(t, http.MethodGet, "/api/v2/logs", ""); got.StatusCode != http.StatusOK {
		t.Errorf("the right token while wrong ones are refused: %d", got.StatusCode)
	}
	login := a.browse(t, "test", "/admin/login", nil)
	signIn := a.browse(t, "test", "/admin/login", map[string][]string{"_csrf": {hiddenField(t, login.body, "_csrf")}, "token": {"wrong"}},
		login.cookie(t, "pwreset_csrf"))
	if signIn.StatusCode != http.StatusTooManyRequests || signIn.Header.Get("Retry-After") == "" {
		t.Errorf("a wrong dashboard sign-in past the limit: %d, Retry-After %q", signIn.StatusCode, signIn.Header.Get("Retry-After"))
	}
	a.Clock.Advance(time.Minute)
	wantMgmtError(t, "a wrong token a minute later", a.apiAs(t, wrong, http.MethodGet, "/api/v2/logs", ""), 401, "invalid_token", "")
}

// TestAdminTokenNone: with `token none` the authentication in front (Caddy's)
// is trusted: calls need no token and are recorded under its user; the
// dashboard opens a session without a sign-in, and refuses token sign-ins.
func TestAdminTokenNone(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{NoToken: true, Principal: func(r *http.Request) string { return r.Header.Get("X-Test-User") }})
	req := newRequest(t, http.MethodPatch, a.url+"/api/v2/email-templates/reset_email", ctJSON, `{"subject":"Reset"}`)
	req.Header.Set("X-Test-User", "carol-from-caddy")
	if got := fetch(t, req); got.StatusCode != http.StatusOK {
		t.Fatalf("a call without a token: %d %s", got.StatusCode, got.body)
	}
	if !auditHas(t, a.Admin, audit.TemplateChanged, "carol-from-caddy") {
		t.Error("the change is not recorded under Caddy's user")
	}
	if got := a.apiAs(t, "", http.MethodGet, "/api/v2/logs", ""); got.StatusCode != http.StatusOK {
		t.Errorf("a call without a token or a user: %d", got.StatusCode)
	}
	if got := a.apiAs(t, "", http.MethodGet, "/api/v2/logs?access_token=x", ""); got.StatusCode != http.StatusBadRequest {
		t.Errorf("a token in the query with token none: %d, want 400", got.StatusCode)
	}

	users := a.browse(t, "test", "/admin/users", nil)
	session := setCookie(users, "pwreset_admin")
	if users.StatusCode != http.StatusOK || session == nil || !strings.Contains(users.body, `data-testid="actor">caddy-auth<`) {
		t.Fatalf("the dashboard with token none: %d, session %v\n%s", users.StatusCode, session, users.body)
	}
	if again := a.browse(t, "test", "/admin/users", nil, session); again.StatusCode != http.StatusOK || setCookie(again, "pwreset_admin") != nil {
		t.Errorf("the session's second page: %d, a new session %v", again.StatusCode, setCookie(again, "pwreset_admin"))
	}
	if got := a.browse(t, "test", "/admin/login", nil); got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/admin/" {
		t.Errorf("the sign-in page with token none: %d %q, want 303 to /admin/", got.StatusCode, got.Header.Get("Location"))
	}
	csrf := strings.Repeat("D", 26)
	signIn := a.browse(t, "test", "/admin/login", map[string][]string{"_csrf": {csrf}, "token": {adminSecret}},
		&http.Cookie{Name: "pwreset_csrf", Value: csrf})
	if signIn.StatusCode != http.StatusUnauthorized || setCookie(signIn, "pwreset_admin") != nil {
		t.Errorf("a token sign-in with token none: %d, want 401 without a session", signIn.StatusCode)
	}
}

// TestNewAdminRefusesConfig: an admin handler without authentication, or with
// a token that is missing, shared, unnamed or guessable, is refused.
func TestNewAdminRefusesConfig(t *testing.T) {
	st := testenv.NewStack(t)
	good := AdminToken{Name: "ops", Secret: adminSecret}
	for _, tt := range []struct {
		name string
		cfg  AdminConfig
		want string // "" : accepted
	}{
		{"no token", AdminConfig{}, "needs a token"},
		{"tokens and token none", AdminConfig{Tokens: []AdminToken{good}, NoToken: true}, "cannot be combined"},
		{"unnamed token", AdminConfig{Tokens: []AdminToken{{Secret: adminSecret}}}, "needs a name without spaces"},
		{"name with a space", AdminConfig{Tokens: []AdminToken{{Name: "o ps", Secret: adminSecret}}}, "needs a name without spaces"},
		{"duplicate name", AdminConfig{Tokens: []AdminToken{good, {Name: "ops", Secret: strings.ToUpper(adminSecret)}}}, "token ops is declared twice"},
		{"empty secret", AdminConfig{Tokens: []AdminToken{{Name: "ops"}}}, "is empty: is the environment variable set?"},
		{"weak: a word", AdminConfig{Tokens: []AdminToken{{Name: "ops", Secret: "correct-horse-battery"}}}, "too weak"},
		{"weak: 31 hex digits", AdminConfig{Tokens: []AdminToken{{Name: "ops", Secret: adminSecret[:31]}}}, "too weak (about 124 bits)"},
		{"weak: few distinct characters", AdminConfig{Tokens: []AdminToken{{Name: "ops", Secret: strings.Repeat("abcdefgh", 8)}}}, "too weak (about 0 bits)"},
		{"weak second token", AdminConfig{Tokens: []AdminToken{good, {Name: "ci", Secret: "hunter2"}}}, "token ci is too weak"},
		{"32 hex digits", AdminConfig{Tokens: []AdminToken{good}}, ""},
		{"26 base32 characters", AdminConfig{Tokens: []AdminToken{{Name: "ops", Secret: "K7Q2ZLMX4RT5WBN3HC6JDV2PEA"}}}, ""},
		{"two tokens", AdminConfig{Tokens: []AdminToken{good, {Name: "ci", Secret: strings.ToUpper(adminSecret)}}}, ""},
		{"token none", AdminConfig{NoToken: true}, ""},
	} {
		h, err := NewAdmin(st.Admin, tt.cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		case tt.want != "" && h != nil:
			t.Errorf("%s: a handler with the error", tt.name)
		}
	}
}

// TestOwnsAdmin: the Management API's paths and the dashboard's are the admin
// handler's; the rest goes on.
func TestOwnsAdmin(t *testing.T) {
	for path, want := range map[string]bool{
		"/api/v2/logs": true, "/api/v2/": true, "/admin": true, "/admin/": true, "/admin/users": true,
		"/api/v2": false, "/api/v1/logs": false, "/administrator": false, "/": false, PathReset: false,
	} {
		if got := OwnsAdmin(path); got != want {
			t.Errorf("OwnsAdmin(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestAdminDefaultClientIPIgnoresThePort: without ClientIP the handler counts
// wrong tokens by the client's address. RemoteAddr carries the client's port as
// well, which changes with every connection: the limit must still hold for a
// client that opens a new connection for each try.
func TestAdminDefaultClientIPIgnoresThePort(t *testing.T) {
	st := testenv.NewStack(t)
	h, err := NewAdmin(st.Admin, AdminConfig{Tokens: []AdminToken{{Name: "ops", Secret: adminSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	status := 0
	for range 11 {
		req := newRequest(t, http.MethodGet, srv.URL+"/api/v2/logs", "", "")
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("ab", 16))
		resp, err := fresh.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		status = resp.StatusCode
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("the 11th wrong token, each on a new connection: %d, want 429 (the limit counts %q, address and port)",
			status, "127.0.0.1:port")
	}
}
