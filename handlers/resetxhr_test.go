package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
)

// xhrHeaders is what jQuery's $.ajax sends with Auth0's sample custom page.
var xhrHeaders = map[string]string{"X-Requested-With": "XMLHttpRequest", "Accept": "*/*"}

// postWith posts form to the reset page with headers and cookies.
func (env *pageEnv) postWith(t *testing.T, form url.Values, headers map[string]string, cookies ...*http.Cookie) fetched {
	t.Helper()
	req := newRequest(t, http.MethodPost, env.url+PathReset, ctForm, form.Encode())
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return fetch(t, req)
}

// xhrForm opens a new link's form and returns its fields for password, with
// the cookies a browser sends.
func (env *pageEnv) xhrForm(t *testing.T, password, confirm string) (url.Values, []*http.Cookie) {
	t.Helper()
	form, cookies := env.openForm(t, env.ticket(t, time.Hour))
	return url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")}, "newPassword": {password}, "confirmNewPassword": {confirm}}, cookies
}

// wantResetError checks an XHR-mode error: its status, name, code and a part
// of its message, with statusCode the status; it returns the body.
func wantResetError(t *testing.T, what string, got fetched, status int, name, code, message string) map[string]any {
	t.Helper()
	e := errorBody(t, what, got, status)
	if str(e["name"]) != name || str(e["code"]) != code || !strings.Contains(str(e["message"]), message) || e["statusCode"] != float64(status) {
		t.Errorf("%s: %v, want name %s, code %s, message with %q, statusCode %d", what, e, name, code, message, status)
	}
	return e
}

// TestResetXHRPolicyErrors: in XHR mode each policy refusal is Auth0's 400 body
// (auth0-custom-password-reset-hosted-page's README): name, message, code
// invalid_password, description (the rules, or a sentence), and the policy's
// text for PasswordStrengthError; the link keeps working.
func TestResetXHRPolicyErrors(t *testing.T) {
	env := newPageEnv(t, policy.Policy{Level: policy.LevelGood, Dictionary: true, NoPersonalInfo: true, History: 3})
	env.useTicket(t, env.ticket(t, time.Hour)) // goodPassword is now in the history
	for _, tt := range []struct {
		password, name, message, description string
	}{
		// First: each case's successful submit adds to the history.
		{goodPassword, policy.NameHistory, "Password has previously been used",
			"You may not reuse any of the last 3 passwords. This password was used a few seconds ago."},
		{"abc", policy.NameStrength, "Password is too weak", ""},
		{"Password123", policy.NameDictionary, "Password is too common", "Password is not allowed, it might be too common."},
		{"Alice-Wonder-2024", policy.NameNoUserInfo, "Password contains user information", "Password is based on user information"},
	} {
		fresh := tt.name + "-Horse-7-battery" // not in the history yet
		values, cookies := env.xhrForm(t, tt.password, tt.password)
		got := env.postWith(t, values, xhrHeaders, cookies...)
		e := wantResetError(t, tt.name, got, http.StatusBadRequest, tt.name, policy.ErrorCode, tt.message)
		if str(e["message"]) != tt.message {
			t.Errorf("%s: message %q, want Auth0's %q", tt.name, e["message"], tt.message)
		}
		if tt.description != "" && str(e["description"]) != tt.description {
			t.Errorf("%s: description %v, want %q", tt.name, e["description"], tt.description)
		}
		if tt.name == policy.NameStrength {
			d, _ := e["description"].(map[string]any)
			rules, _ := d["rules"].([]any)
			if len(rules) == 0 || d["verified"] != false || !strings.Contains(str(e["policy"]), "* At least 8 characters in length") {
				t.Errorf("%s: description %v policy %q, want the rules and the policy's text", tt.name, e["description"], e["policy"])
			}
		}
		if c := setCookie(got, "pwreset_ticket"); c != nil {
			t.Errorf("%s: the refusal touched the ticket cookie: %+v", tt.name, c)
		}
		if again := env.postWith(t, withFields(values, "newPassword", fresh, "confirmNewPassword", fresh),
			xhrHeaders, cookies...); again.StatusCode != http.StatusOK {
			t.Errorf("%s: the link after the refusal: %d %s", tt.name, again.StatusCode, again.body)
		}
	}
}

// TestResetXHRFormErrors: the form's own mistakes, a foreign or expired form
// and a dead link get JSON answers with a name a script can switch on, and
// change nothing.
func TestResetXHRFormErrors(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	values, cookies := env.xhrForm(t, goodPassword, goodPassword)
	post := func(v url.Values, cookies ...*http.Cookie) fetched { return env.postWith(t, v, xhrHeaders, cookies...) }

	wantResetError(t, "mismatch", post(withFields(url.Values{}, "_csrf", values.Get("_csrf"), "newPassword", goodPassword, "confirmNewPassword", goodPassword+"x"), cookies...),
		http.StatusBadRequest, "PasswordMismatchError", "passwords_differ", reset.ErrPasswordsDiffer.Message)
	wantResetError(t, "no confirmation", post(withFields(url.Values{}, "_csrf", values.Get("_csrf"), "newPassword", goodPassword), cookies...),
		http.StatusBadRequest, "PasswordMissingError", "confirmation_missing", reset.ErrConfirmationMissing.Message)
	wantResetError(t, "unknown field", post(withFields(url.Values{}, "_csrf", values.Get("_csrf"), "password", goodPassword), cookies...),
		http.StatusBadRequest, "InvalidRequestError", "invalid_request", `unknown field "password"`)

	csrf := errorBody(t, "no CSRF cookie", post(values, cookies[0]), http.StatusForbidden)
	want := map[string]any{"name": "CsrfInvalidTokenError", "message": "Invalid CSRF token", "code": "invalid_csrf_token", "statusCode": float64(403)}
	if len(csrf) != len(want) {
		t.Errorf("CSRF: %v, want Auth0's %v", csrf, want)
	}
	for k, v := range want {
		if csrf[k] != v {
			t.Errorf("CSRF: %s %v, want %v", k, csrf[k], v)
		}
	}
	wantResetError(t, "wrong CSRF token", post(withFields(url.Values{}, "_csrf", strings.Repeat("A", 26), "newPassword", goodPassword, "confirmNewPassword", goodPassword), cookies...),
		http.StatusForbidden, "CsrfInvalidTokenError", "invalid_csrf_token", "Invalid CSRF token")

	noTicket := wantResetError(t, "no ticket", post(values, cookies[1]), http.StatusNotFound, "InvalidTicketError", "ticket_invalid", "")
	if str(noTicket["forgot_url"]) != PathForgot {
		t.Errorf("no ticket: forgot_url %v, want %s", noTicket["forgot_url"], PathForgot)
	}
	if env.app.CheckPassword("alice@example.com", goodPassword) {
		t.Error("a refused submit changed the password")
	}
	if got := post(values, cookies...); got.StatusCode != http.StatusOK {
		t.Errorf("the link after the refusals: %d %s", got.StatusCode, got.body)
	}
}

// TestResetXHRTicketErrors: a used or expired link gets its own error, with
// where to ask for a new link for the same application, and loses its cookie
// (as in HTML mode); past the form's limit, a 429 with Retry-After.
func TestResetXHRTicketErrors(t *testing.T) {
	forApp := PathForgot + "?" + url.Values{"client_id": {"demo-app"}, "connection": {pageConn}}.Encode()
	t.Run("used", func(t *testing.T) {
		env := newPageEnv(t, policyGood)
		values, cookies := env.xhrForm(t, goodPassword, goodPassword)
		if got := env.postWith(t, values, xhrHeaders, cookies...); got.StatusCode != http.StatusOK {
			t.Fatalf("first submit: %d %s", got.StatusCode, got.body)
		}
		got := env.postWith(t, values, xhrHeaders, cookies...)
		e := wantResetError(t, "used", got, http.StatusGone, "UsedTicketError", "ticket_used", "This ticket was already used.")
		if str(e["forgot_url"]) != forApp || !strings.Contains(str(e["description"]), "This link has already been used.") {
			t.Errorf("used: %v, want forgot_url %s and the page's text", e, forApp)
		}
		if c := setCookie(got, "pwreset_ticket"); c == nil || c.MaxAge >= 0 {
			t.Errorf("used: the ticket cookie is not cleared: %+v", c)
		}
	})
	t.Run("expired", func(t *testing.T) {
		env := newPageEnv(t, policyGood)
		values, cookies := env.xhrForm(t, goodPassword, goodPassword)
		env.clock.Advance(time.Hour + time.Second)
		got := env.postWith(t, withFields(values, "ticket", cookies[0].Value), xhrHeaders, cookies[1])
		e := wantResetError(t, "expired", got, http.StatusGone, "ExpiredTicketError", "ticket_expired", "This ticket was expired.")
		if str(e["forgot_url"]) != forApp {
			t.Errorf("expired: forgot_url %v, want %s", e["forgot_url"], forApp)
		}
		if env.app.CheckPassword("alice@example.com", goodPassword) {
			t.Error("an expired ticket changed the password")
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		env := newPageEnv(t, policyGood, withLimits)
		values, cookies := env.xhrForm(t, "abc", "abc")
		for range reset.DefaultLimits().ResetTicket.Burst {
			env.postWith(t, values, xhrHeaders, cookies...)
		}
		got := env.postWith(t, values, xhrHeaders, cookies...)
		wantResetError(t, "rate limited", got, http.StatusTooManyRequests, "TooManyRequestsError", "too_many_requests", "")
		if got.Header.Get("Retry-After") == "" {
			t.Error("rate limited: no Retry-After")
		}
	})
}

// TestResetXHRSucceeds: success is a 200 with the result URL that HTML mode
// redirects to (Auth0's sample page goes to result_url when there is one),
// or without one the message only; the ticket's cookie is cleared.
func TestResetXHRSucceeds(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      []func(*service.Config)
		resultURL bool
	}{
		{name: "result URL", resultURL: true},
		{name: "no result URL", opts: []func(*service.Config){func(c *service.Config) { c.Site.Clients["demo-app"].ResultURL = "" }}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newPageEnv(t, policyGood, tt.opts...)
			values, cookies := env.xhrForm(t, goodPassword, goodPassword)
			got := env.postWith(t, values, xhrHeaders, cookies...)
			var done ResetDone
			decodeJSON(t, "success", got, &done)
			if got.StatusCode != http.StatusOK || done.Message != reset.SuccessMessage {
				t.Fatalf("%d %+v, want 200 with Auth0's message", got.StatusCode, done)
			}
			if !env.app.CheckPassword("alice@example.com", goodPassword) {
				t.Error("the password was not changed")
			}
			if c := setCookie(got, "pwreset_ticket"); c == nil || c.MaxAge >= 0 {
				t.Errorf("the ticket cookie is not cleared: %+v", c)
			}
			if !tt.resultURL {
				if done.ResultURL != "" {
					t.Errorf("result_url %q without a result URL", done.ResultURL)
				}
				return
			}
			to, err := url.Parse(done.ResultURL)
			if err != nil || to.Scheme+"://"+to.Host+to.Path != env.app.URL+"/login" ||
				to.Query().Get("success") != "true" || to.Query().Get("email") != "alice@example.com" {
				t.Errorf("result_url %q, want %s/login with success=true and the email", done.ResultURL, env.app.URL)
			}
		})
	}
}

// TestResetXHRDetection: each request form a script sends gets JSON; a
// browser's own form post, even one that accepts anything, gets the page.
func TestResetXHRDetection(t *testing.T) {
	env := newPageEnv(t, policyGood)
	values, cookies := env.xhrForm(t, goodPassword, goodPassword+"x")
	navigation := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
	for _, tt := range []struct {
		name    string
		headers map[string]string
		json    bool
	}{
		{"jQuery", xhrHeaders, true},
		{"axios", map[string]string{"Accept": "application/json, text/plain, */*"}, true},
		{"fetch", map[string]string{"Accept": "*/*", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "same-origin"}, true},
		{"JSON body", map[string]string{"Content-Type": "application/json"}, true},
		{"navigation", navigation, false},
		{"no header", nil, false},
		{"any type", map[string]string{"Accept": "*/*"}, false},
	} {
		body := values.Encode()
		if tt.headers["Content-Type"] == "application/json" {
			body = `{"_csrf":"` + values.Get("_csrf") + `","newPassword":"a","confirmNewPassword":"b"}`
		}
		req := newRequest(t, http.MethodPost, env.url+PathReset, ctForm, body)
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		got := fetch(t, req)
		if tt.json {
			wantResetError(t, tt.name, got, http.StatusBadRequest, "PasswordMismatchError", "passwords_differ", "")
			continue
		}
		wantPage(t, tt.name, got, http.StatusBadRequest, reset.ErrPasswordsDiffer.Message, `name="newPassword"`)
	}
}
