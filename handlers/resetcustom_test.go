package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// customPage is a reset page as an operator writes one for Auth0, with our
// variables besides: the form posts Auth0's fields, and the page lists the
// rules and the server's error (HTML mode).
const customPage = `<!DOCTYPE html>
<html lang="{{ lang | default: 'en' }}">
<head><title>{{ tenant.friendly_name }}: reset</title><link rel="stylesheet" href="{{ assets_path }}/style.css"></head>
<body>
<h1 data-testid="app">{{ application.name }}</h1>
<p data-testid="email">{{ email }}</p>
<p data-testid="policy">{{ password_policy }} {{ min_length }} {{ connection.name }} {{ tenant.support_email }}</p>
<div id="options" data-options="{{ password_complexity_options }}"></div>
{% if error != "" %}<p class="error" data-testid="error">{{ error }}</p>{% endif %}
<ul>{% for r in rules %}<li data-rule="{{ r.code }}" class="{{ r.state }}">{{ r.text }}</li>{% endfor %}</ul>
<form id="custom-form" method="post" action="{{ form_action }}">
<input type="hidden" name="_csrf" value="{{ csrf_token }}">
<input type="hidden" name="ticket" value="{{ ticket }}">
<input type="hidden" name="email" value="{{ email }}">
<input type="hidden" name="password-policy" value="{{ password_policy }}">
<input type="password" id="newPassword" name="newPassword">
<input type="password" id="confirmNewPassword" name="confirmNewPassword">
<button type="submit">Reset</button>
</form>
</body>
</html>
`

// newCustomPageEnv serves the public handler with src as its reset page.
func newCustomPageEnv(t *testing.T, pol policy.Policy, src string, opts ...func(*service.Config)) *pageEnv {
	t.Helper()
	page, err := templates.CompileResetPage(src)
	if err != nil {
		t.Fatal(err)
	}
	return newPageEnvWith(t, pol, func(p *Public) http.Handler {
		p.UseResetPage(page)
		return p
	}, opts...)
}

// TestCustomResetPage: the operator's page replaces the form, filled with
// Auth0's variables and ours, every value escaped, under the built-in page's
// headers and CSP (connect-src 'self' added, for its script's XHR); its form
// posts Auth0's fields to /lo/reset and the reset completes.
func TestCustomResetPage(t *testing.T) {
	env := newCustomPageEnv(t, policy.Policy{Level: policy.LevelFair, MinLength: 9}, customPage, func(c *service.Config) {
		c.Site.FriendlyName, c.Site.SupportEmail = `Acme <Corp>`, "help@example.com"
		c.Site.Clients["demo-app"].Name = `Demo "App" <b>`
	})
	link := env.ticket(t, time.Hour)
	form, cookies := env.openForm(t, link)
	wantPage(t, "the custom page", form, http.StatusOK,
		`<title>Acme &lt;Corp&gt;: reset</title>`,
		`<h1 data-testid="app">Demo &#34;App&#34; &lt;b&gt;</h1>`,
		`<p data-testid="email">alice@example.com</p>`,
		`<p data-testid="policy">fair 9 `+pageConn+` help@example.com</p>`,
		`data-options="{&#34;min_length&#34;:9}"`,
		`<li data-rule="lengthAtLeast" class="">At least 9 characters</li>`,
		`action="`+PathReset+`"`, `href="/lo/assets/style.css"`, `<html lang="en">`,
		`name="ticket" value="`+tokenOf(t, link)+`"`)
	if strings.Contains(form.body, "Your password must contain:") || strings.Contains(form.body, "data-testid=\"error\"") {
		t.Errorf("the custom page carries the built-in form or an error:\n%s", form.body)
	}
	plain := http.Header{}
	setPageHeaders(plain, env.app.URL) // the built-in form's, with the result URL's origin in form-action
	if got, want := form.Header.Get("Content-Security-Policy"), plain.Get("Content-Security-Policy")+"; connect-src 'self'"; got != want {
		t.Errorf("the custom page's CSP\n %s\nwant the built-in one's with connect-src 'self'\n %s", got, want)
	}
	for h := range plain {
		if h != "Content-Security-Policy" && form.Header.Get(h) != plain.Get(h) {
			t.Errorf("%s %q, the built-in page's %q", h, form.Header.Get(h), plain.Get(h))
		}
	}

	values := url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")}, "ticket": {hiddenField(t, form.body, "ticket")},
		"email": {"alice@example.com"}, "password-policy": {"none"}}
	weak := env.post(t, env.url+PathReset, withFields(values, "newPassword", "abc", "confirmNewPassword", "abc"), cookies[1])
	wantPage(t, "a weak password (HTML mode)", weak, http.StatusBadRequest, `<p class="error" data-testid="error">Password is too weak.</p>`,
		`<li data-rule="lengthAtLeast" class="unmet">`, `<h1 data-testid="app">`)
	done := env.post(t, env.url+PathReset, withFields(values, "newPassword", goodPassword, "confirmNewPassword", goodPassword), cookies[1])
	if done.StatusCode != http.StatusSeeOther || !env.app.CheckPassword("alice@example.com", goodPassword) {
		t.Errorf("the custom form's submit: %d, password changed: %v", done.StatusCode, env.app.CheckPassword("alice@example.com", goodPassword))
	}
}

// TestCustomResetPageOnlyTheForm: the link's first page and the error pages
// stay the built-in ones.
func TestCustomResetPageOnlyTheForm(t *testing.T) {
	env := newCustomPageEnv(t, policyGood, customPage)
	link := env.ticket(t, time.Hour)
	wantPage(t, "the link's page", env.get(t, link), http.StatusOK, "Opening the form to choose a new password")
	env.useTicket(t, link)
	wantPage(t, "a used link", env.get(t, link), http.StatusGone, "This link has already been used.")
}

// TestCustomResetPageFallsBack: a page that fails as it renders (a loop
// bound, which the compiled sample did not reach) is logged and the built-in
// form shown, rather than an error for the user.
func TestCustomResetPageFallsBack(t *testing.T) {
	loops := `{% for a in email | split: "" %}{% for b in email | split: "" %}{% for c in email | split: "" %}.{% endfor %}{% endfor %}{% endfor %}`
	env := newCustomPageEnv(t, policyGood, loops)
	const long = "alice.with.a.rather.long.address.that.loops.for.long@example.com"
	if err := env.app.ChangeEmail("alice@example.com", long); err != nil {
		t.Fatal(err)
	}
	link := env.ticketFor(t, long, time.Hour, admin.TicketRequest{})
	form, _ := env.openForm(t, link)
	wantPage(t, "the fallback", form, http.StatusOK, "Your password must contain:", `name="newPassword"`)
}
