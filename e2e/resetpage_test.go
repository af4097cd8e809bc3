package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestCustomResetPageThroughCaddy: with reset_page set, Caddy serves the
// operator's page for a mailed link, and the page's XHR submits get Auth0's
// JSON: a weak password's PasswordStrengthError, then the result URL.
func TestCustomResetPageThroughCaddy(t *testing.T) {
	page := filepath.Join(t.TempDir(), "reset-page.html")
	src := `<!DOCTYPE html><title>{{ tenant.friendly_name }}</title>
<p id="who">{{ email }} at {{ application.name }}</p>
<form method="post" action="{{ form_action }}"><input type="hidden" name="_csrf" value="{{ csrf_token }}">
<input type="hidden" name="ticket" value="{{ ticket }}"></form>`
	if err := os.WriteFile(page, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, "\t\treset_page "+page)
	csrf := s.openForm(s.resetLink("alice@example.com"))
	_, form := s.do("GET", "/lo/reset", "", "")
	if !strings.Contains(form, `<p id="who">alice@example.com at Demo App</p>`) || !strings.Contains(form, "<title>Example</title>") {
		t.Fatalf("the reset page is not the custom one:\n%s", form)
	}
	submit := func(password string) (int, map[string]any) {
		t.Helper()
		body := url.Values{"_csrf": {csrf}, "newPassword": {password}, "confirmNewPassword": {password}}.Encode()
		resp, text := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", body, "X-Requested-With", "XMLHttpRequest")
		var v map[string]any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			t.Fatalf("%d %q is not JSON: %v", resp.StatusCode, text, err)
		}
		return resp.StatusCode, v
	}
	if status, e := submit("abc"); status != 400 || e["name"] != "PasswordStrengthError" || e["code"] != "invalid_password" {
		t.Errorf("weak password: %d %v", status, e)
	}
	status, done := submit("Correct-Horse-9-battery")
	if resultURL, _ := done["result_url"].(string); status != 200 || !strings.HasPrefix(resultURL, base+"/login?") || !strings.Contains(resultURL, "success=true") {
		t.Errorf("good password: %d %v", status, done)
	}
	if !s.app.CheckPassword("alice@example.com", "Correct-Horse-9-battery") {
		t.Error("the password was not changed")
	}
}

// TestConfigRefusesBrokenResetPage: a reset_page that cannot render stops the
// config when Caddy loads it (caddy validate, caddy reload), naming the file
// and the line.
func TestConfigRefusesBrokenResetPage(t *testing.T) {
	page := filepath.Join(t.TempDir(), "reset-page.html")
	if err := os.WriteFile(page, []byte("<p>\n{{ emial }}</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	caddytest.AssertLoadError(t, strings.Replace(config(t, "%EXTRA%"), "%EXTRA%", "reset_page "+page, 1), "caddyfile",
		"reset_page "+page+": reset page, line 2: undefined variable")
}
