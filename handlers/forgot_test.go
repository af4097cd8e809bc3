package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

const problemClient = "This link names an application that does not exist."
const problemConnection = "This link names a connection that does not exist or has no passwords to reset."

// TestForgotPage: the page for the client and connection a link names, with the
// default client and the only database connection when it names none; a 400
// page for a name that is wrong.
func TestForgotPage(t *testing.T) {
	env := newPageEnv(t, policyGood)
	for _, tt := range []struct {
		name, query string
		status      int
		texts       []string
		absent      string
	}{
		{"defaults", "", 200, []string{"Forgot Your Password?", `name="connection" value="` + pageConn + `"`, `name="client_id" value=""`,
			"Back to Demo App"}, ""}, // the default client's name and way back
		{"client and connection", "?client_id=demo-app&connection=" + pageConn, 200,
			[]string{`<p class="brand">Demo App</p>`, `name="client_id" value="demo-app"`, `href="` + env.app.URL + `/login" data-testid="back">Back to Demo App`}, ""},
		{"client alone", "?client_id=demo-app", 200, []string{`name="connection" value="` + pageConn + `"`, "Back to Demo App"}, ""},
		{"unknown client", "?client_id=nope", 400, []string{"Please Try Again", problemClient}, "<form"},
		{"unknown connection", "?connection=nope", 400, []string{problemConnection}, "<form"},
		{"social connection", "?client_id=demo-app&connection=google-oauth2", 400, []string{problemConnection}, "<form"},
	} {
		got := env.get(t, env.url+PathForgot+tt.query)
		wantPage(t, tt.name, got, tt.status, tt.texts...)
		if tt.absent != "" && strings.Contains(got.body, tt.absent) {
			t.Errorf("%s: the page holds %q", tt.name, tt.absent)
		}
		csrf := setCookie(got, "pwreset_csrf")
		switch {
		case tt.status == 200 && (csrf == nil || !csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode || hiddenField(t, got.body, "_csrf") != csrf.Value):
			t.Errorf("%s: CSRF cookie %+v does not match the form", tt.name, csrf)
		case tt.status != 200 && csrf != nil:
			t.Errorf("%s: a refused page sets a CSRF cookie", tt.name)
		}
	}
}

// TestForgotPageWithSeveralConnections: with two database connections a link
// must name one.
func TestForgotPageWithSeveralConnections(t *testing.T) {
	env := newPageEnv(t, policyGood, func(c *service.Config) {
		c.Site.Connections["Other-DB"] = &reset.Connection{Name: "Other-DB", Kind: users.Database, Users: c.Site.Connections[pageConn].Users}
	})
	wantPage(t, "no connection", env.get(t, env.url+PathForgot), http.StatusBadRequest, problemConnection)
	wantPage(t, "Other-DB", env.get(t, env.url+PathForgot+"?connection=Other-DB"), http.StatusOK, `name="connection" value="Other-DB"`)
}

// forgotForm opens the forgot page and returns its CSRF token and cookie.
func (env *pageEnv) forgotForm(t *testing.T) (string, *http.Cookie) {
	t.Helper()
	page := env.get(t, env.url+PathForgot+"?client_id=demo-app")
	return hiddenField(t, page.body, "_csrf"), page.cookie(t, "pwreset_csrf")
}

// TestForgotSubmit: the form's answers: "Check Your Email" for any well-formed
// address (a known user's email goes out), the form again for an address the
// user can fix, a page for a form that cannot be read, a foreign or stale
// form, or a name that is wrong.
func TestForgotSubmit(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	token, cookie := env.forgotForm(t)
	other := &http.Cookie{Name: "pwreset_csrf", Value: strings.Repeat("A", 26)}
	form := func(email string, extra ...string) url.Values {
		return withFields(url.Values{"_csrf": {token}, "client_id": {"demo-app"}, "connection": {pageConn}, "email": {email}}, extra...)
	}
	after := env.box.LastID()
	env.wantForms(t, PathForgot, []formCase{
		{"known address", form("alice@example.com"), []*http.Cookie{cookie}, 200,
			[]string{"Check Your Email", "Please check the email address alice@example.com", "Resend email", "Back to Demo App",
				`href="forgot?client_id=demo-app&amp;connection=` + url.QueryEscape(pageConn) + `&amp;ui_locales=en"`}},
		{"unknown address", form("nobody@example.com"), []*http.Cookie{cookie}, 200, []string{"Check Your Email", "nobody@example.com"}},
		{"bad address", form("not an address"), []*http.Cookie{cookie}, 400,
			[]string{"Please enter a valid email address.", `value="not an address"`, `aria-invalid="true"`}},
		{"empty address", form(""), []*http.Cookie{cookie}, 400, []string{"Please enter an email address.", `name="_csrf" value="` + token + `"`}},
		{"no CSRF cookie", form("alice@example.com"), nil, 403, []string{"Your session expired or the form was sent from another site"}},
		{"no CSRF field", form("alice@example.com", "_csrf", ""), []*http.Cookie{cookie}, 403, []string{"Your session expired"}},
		{"another CSRF token", form("alice@example.com"), []*http.Cookie{other}, 403, []string{"Your session expired"}},
		{"unknown client", form("alice@example.com", "client_id", "nope"), []*http.Cookie{cookie}, 400, []string{problemClient}},
		{"social connection", form("alice@example.com", "connection", "google-oauth2"), []*http.Cookie{cookie}, 400, []string{problemConnection}},
		{"unknown field", form("alice@example.com", "password", "x"), []*http.Cookie{cookie}, 400, []string{"The form could not be read. (unknown field"}},
		{"too large", form(strings.Repeat("a", maxRequestBody) + "@example.com"), []*http.Cookie{cookie}, 413, []string{"request body is too large"}},
	})
	env.box.WaitResetMail(t, "alice@example.com", after)
	// The refused forms asked for nothing: only the two accepted ones counted.
	got := env.post(t, env.url+PathForgot, form("alice@example.com"), cookie)
	if got.StatusCode != http.StatusOK {
		t.Fatalf("another request: %d", got.StatusCode)
	}
	for _, m := range env.box.Messages() {
		if m.ID > after && !strings.EqualFold(m.EnvelopeTo[0], "alice@example.com") {
			t.Errorf("mail to %v after the refused forms", m.EnvelopeTo)
		}
	}
}

// TestForgotSubmitRateLimited: past the burst for one address the page says to
// wait, with Retry-After, and the form is not shown again.
func TestForgotSubmitRateLimited(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	token, cookie := env.forgotForm(t)
	form := url.Values{"_csrf": {token}, "client_id": {"demo-app"}, "connection": {pageConn}, "email": {"nobody@example.com"}}
	for i := range 10 {
		if got := env.post(t, env.url+PathForgot, form, cookie); got.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, got.StatusCode)
		}
	}
	got := env.post(t, env.url+PathForgot, form, cookie)
	wantPage(t, "the 11th request", got, http.StatusTooManyRequests, "You have exceeded the amount of emails")
	if retry, err := strconv.Atoi(got.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds", got.Header.Get("Retry-After"))
	}
	if got.Header.Get("X-RateLimit-Remaining") != "0" || strings.Contains(got.body, "<form") {
		t.Errorf("the refusal: remaining %q, a form: %v", got.Header.Get("X-RateLimit-Remaining"), strings.Contains(got.body, "<form"))
	}
}
