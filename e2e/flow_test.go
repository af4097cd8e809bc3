package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const newPassword = "Correct-Horse-9-battery"

// TestEndToEndReset is the whole flow through Caddy: request, mail, link, form,
// new password at the app, redirect with Auth0's parameters; then the link is dead.
func TestEndToEndReset(t *testing.T) {
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	if !strings.HasPrefix(link, base+"/lo/reset?ticket=") {
		t.Fatalf("link %q is not on the public URL", link)
	}
	// The link's page: the ticket moves into a cookie, the URL loses it.
	resp, page := s.do("GET", strings.TrimPrefix(link, base), "", "")
	assertPageHeaders(t, resp)
	var ticketCookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "pwreset_ticket" {
			ticketCookie = c
		}
	}
	if ticketCookie == nil || !ticketCookie.HttpOnly || ticketCookie.SameSite != http.SameSiteStrictMode ||
		ticketCookie.Path != "/lo/reset" || ticketCookie.MaxAge != 1800 {
		t.Fatalf("ticket cookie %+v", ticketCookie)
	}
	if strings.Contains(page, testenv.Ticket(t, link)) {
		t.Error("the link's page repeats the ticket")
	}
	// The form, at a URL without the ticket.
	resp, page = s.do("GET", "/lo/reset", "", "")
	assertPageHeaders(t, resp)
	for _, want := range []string{"alice@example.com", "Change Your Password", "At least 8 characters", "Demo App"} {
		if !strings.Contains(page, want) {
			t.Errorf("reset page lacks %q", want)
		}
	}
	if strings.Contains(page, testenv.Ticket(t, link)) {
		t.Error("the form carries the ticket; it should stay in the HttpOnly cookie")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	resp, page = s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST reset: %d\n%s", resp.StatusCode, page)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if loc.Path != "/login" || q.Get("success") != "true" || q.Get("email") != "alice@example.com" ||
		q.Get("message") != "You can now login to the application with the new password." {
		t.Errorf("redirect to %s", loc)
	}
	if !s.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the app's password did not change")
	}
	// The link is dead now, with Auth0's words and a way to ask for a new one.
	resp, page = s.do("GET", strings.TrimPrefix(link, base), "", "")
	if resp.StatusCode != http.StatusGone || !strings.Contains(page, "Invalid Link") ||
		!strings.Contains(page, "already been used") || !strings.Contains(page, `href="forgot?client_id=demo-app`) {
		t.Errorf("used link: %d\n%s", resp.StatusCode, page)
	}
	// Everything else still reaches the app.
	resp, page = s.do("GET", "/login", "", "")
	if resp.StatusCode != 200 || !strings.Contains(page, "Forgot your password?") {
		t.Errorf("the app's login page: %d", resp.StatusCode)
	}
}

// assertPageHeaders checks the headers every page of the plugin sends.
func assertPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for header, want := range map[string]string{
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP not strict: %q", csp)
	}
}

func headerString(h http.Header) string {
	var b strings.Builder
	if err := h.Write(&b); err != nil {
		return err.Error()
	}
	return b.String()
}

// TestCSRF: a POST without the form's token, or with another, changes nothing.
func TestCSRF(t *testing.T) {
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	csrf := s.openForm(link)
	ticket := testenv.Ticket(t, link)
	for name, token := range map[string]string{"missing": "", "wrong": "AAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage": "x"} {
		resp, _ := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
			"_csrf": {token}, "ticket": {ticket}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
		}.Encode())
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s CSRF token: status %d, want 403", name, resp.StatusCode)
		}
	}
	if s.app.PasswordChanges() != 0 {
		t.Fatal("a forged form changed the password")
	}
	resp, _ := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "ticket": {ticket}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the real form after the forged ones: %d", resp.StatusCode)
	}
}

// TestReloadKeepsStoreAndTickets: a config reload shares the open store (no Badger
// lock error) and tickets issued before it still work after it.
func TestReloadKeepsStoreAndTickets(t *testing.T) {
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	s.options = `		support_email "help@example.com"`
	s.load() // a different config: Caddy provisions it while the old one runs
	s.load() // and the same again
	csrf := s.openForm(link)
	resp, page := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "ticket": {testenv.Ticket(t, link)}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ticket from before the reload: %d\n%s", resp.StatusCode, page)
	}
	// Mail still flows after the reloads.
	s.resetLink("bob@example.com")
}
