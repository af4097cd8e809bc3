package e2e

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// dash sends a dashboard request with the admin client (its own cookie jar).
func (as *adminStack) dash(method, path string, form url.Values, header ...string) (*http.Response, string) {
	as.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, adminBase+path, body)
	if err != nil {
		as.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := as.admin.Do(req)
	if err != nil {
		as.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		as.t.Fatal(err)
	}
	return resp, string(data)
}

// login signs the admin client in to the dashboard and returns the session's
// CSRF token.
func (as *adminStack) login() string {
	as.t.Helper()
	resp, page := as.dash("GET", "/admin/login", nil)
	m := csrfField.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		as.t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	resp, page = as.dash("POST", "/admin/login", url.Values{"_csrf": {m[1]}, "token": {adminToken}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/users" {
		as.t.Fatalf("login: %d\n%s", resp.StatusCode, page)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "pwreset_admin" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/admin" {
		as.t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/admin", session)
	}
	resp, page = as.dash("GET", "/admin/users", nil)
	m = csrfField.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		as.t.Fatalf("users page after login: %d\n%s", resp.StatusCode, page)
	}
	return m[1]
}

var flashText = regexp.MustCompile(`data-testid="flash">([^<]*)<`)

// TestAdminDashboardForms: sign-in, the page headers, and every form's CSRF check
// through Caddy: a missing or wrong token, or a cross-site post, changes nothing.
func TestAdminDashboardForms(t *testing.T) {
	as := newAdminStack(t, "")
	resp, _ := as.dash("GET", "/admin/users", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("signed out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = as.dash("POST", "/admin/users/password", url.Values{"email": {"alice@example.com"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed-out POST: %d", resp.StatusCode)
	}
	// The sign-in form: CSRF, and a wrong token.
	resp, page := as.dash("GET", "/admin/login", nil)
	csrf := csrfField.FindStringSubmatch(page)[1]
	for header, want := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	resp, _ = as.dash("POST", "/admin/login", url.Values{"token": {adminToken}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without CSRF: %d", resp.StatusCode)
	}
	resp, page = as.dash("POST", "/admin/login", url.Values{"_csrf": {csrf}, "token": {"wrong-token-0123456789"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "not valid") {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	token := as.login()

	changes := as.app.PasswordChanges()
	form := url.Values{"connection": {conn}, "email": {"alice@example.com"}, "user_id": {"user-alice"},
		"newPassword": {newPassword}, "confirmNewPassword": {newPassword}}
	for name, c := range map[string]struct {
		csrf   string
		header []string
	}{
		"no CSRF field":     {"", nil},
		"a wrong CSRF":      {strings.Repeat("A", 26), nil},
		"a cross-site post": {token, []string{"Sec-Fetch-Site", "cross-site"}},
		"another origin":    {token, []string{"Origin", "https://evil.example"}},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if c.csrf != "" {
			f.Set("_csrf", c.csrf)
		}
		for _, path := range []string{"/admin/users/password", "/admin/users/ticket", "/admin/users/reset-email", "/admin/outbox/retry", "/admin/templates/reset_email", "/admin/logout"} {
			resp, _ := as.dash("POST", path, f, c.header...)
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s to %s: %d, want 403", name, path, resp.StatusCode)
			}
		}
	}
	if as.app.PasswordChanges() != changes {
		t.Fatal("a form without a valid CSRF token changed a password")
	}
	// With the token, the same form works.
	resp, page = as.dash("POST", "/admin/users/password", withCSRF(form, token))
	if m := flashText.FindStringSubmatch(page); resp.StatusCode != 200 || m == nil || !strings.Contains(m[1], "not notified") {
		t.Fatalf("change password: %d\n%s", resp.StatusCode, page)
	}
	if !as.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the password did not change")
	}
	// Mismatched passwords and a weak one: refused with the reason.
	f := withCSRF(form, token)
	f.Set("confirmNewPassword", "other")
	if resp, page = as.dash("POST", "/admin/users/password", f); resp.StatusCode != 400 || !strings.Contains(page, "not the same") {
		t.Errorf("mismatch: %d", resp.StatusCode)
	}
	f.Set("newPassword", "weak")
	f.Set("confirmNewPassword", "weak")
	if resp, page = as.dash("POST", "/admin/users/password", f); resp.StatusCode != 400 || !strings.Contains(page, "PasswordStrengthError") {
		t.Errorf("weak: %d", resp.StatusCode)
	}
	// A template with a syntax error is refused with its line; one that reads
	// files too.
	tf := url.Values{"_csrf": {token}, "action": {"save"}, "from": {""}, "subject": {"Hi"}, "body": {"<p>\n{% if x %}</p>"},
		"text": {""}, "url_lifetime": {"3600"}, "result_url": {""}, "include_email": {"on"}, "enabled": {"on"}}
	if resp, page = as.dash("POST", "/admin/templates/reset_email", tf); resp.StatusCode != 400 || !strings.Contains(page, "body, line 2") {
		t.Errorf("syntax error: %d", resp.StatusCode)
	}
	tf.Set("body", `{% include "../../etc/passwd" %}`)
	if resp, page = as.dash("POST", "/admin/templates/reset_email", tf); resp.StatusCode != 400 || !strings.Contains(page, "include tag is not allowed") {
		t.Errorf("include: %d", resp.StatusCode)
	}
	// Sign out ends the session.
	if resp, _ = as.dash("POST", "/admin/logout", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ = as.dash("GET", "/admin/users", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

func withCSRF(form url.Values, token string) url.Values {
	f := url.Values{"_csrf": {token}}
	for k, v := range form {
		f[k] = v
	}
	return f
}
