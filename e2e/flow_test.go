package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
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
		ticketCookie.Path != "/lo/reset" || ticketCookie.MaxAge <= 0 || ticketCookie.MaxAge > 1800 {
		t.Fatalf("ticket cookie %+v", ticketCookie)
	}
	if strings.Contains(page, testenv.Ticket(t, link)) {
		t.Error("the link's page repeats the ticket")
	}
	// The form, at a URL without the ticket.
	resp, page = s.do("GET", "/lo/reset", "", "")
	assertPageHeaders(t, resp)
	for _, want := range []string{"alice@example.com", "Change Your Password", "At least 8 characters in length", "Demo App"} {
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

// TestUnknownEmailLooksTheSame: same status, body and headers; no mail.
func TestUnknownEmailLooksTheSame(t *testing.T) {
	s := newStack(t, "")
	ask := func(email string) (*http.Response, string) {
		body := `{"client_id":"demo-app","email":"` + email + `","connection":"` + conn + `"}`
		return s.do("POST", "/dbconnections/change_password", "application/json", body)
	}
	known, knownBody := ask("bob@example.com")
	unknown, unknownBody := ask("nobody@example.com")
	if known.StatusCode != unknown.StatusCode || knownBody != unknownBody {
		t.Errorf("answers differ: %d %q vs %d %q", known.StatusCode, knownBody, unknown.StatusCode, unknownBody)
	}
	// Date and the rate limit's reset time are clocks, the same for both up to the
	// second; everything else must match exactly.
	for _, h := range []string{"Date", "X-Ratelimit-Reset"} {
		known.Header.Del(h)
		unknown.Header.Del(h)
	}
	if a, b := headerString(known.Header), headerString(unknown.Header); a != b {
		t.Errorf("headers differ:\n%s\nvs\n%s", a, b)
	}
	s.box.WaitMail(t, "bob@example.com", 0)
	testenv.Eventually(t, "both lookups", func() (bool, error) { return s.app.HookCalls("get_user") == 2, nil })
	s.drained()
	if n := s.box.Count(); n != 1 {
		t.Errorf("%d mails, want only bob's", n)
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

// TestForgedHostDoesNotMoveTheLink: links are built on public_url, whatever the
// Host or X-Forwarded-Host say (WordPress CVE-2017-8295, Django CVE-2012-4520).
func TestForgedHostDoesNotMoveTheLink(t *testing.T) {
	s := newStack(t, "")
	after := s.box.LastID()
	s.requestReset("alice@example.com", "Host", "evil.example:9080", "X-Forwarded-Host", "evil.example",
		"Forwarded", "host=evil.example")
	msg := s.box.WaitMail(t, "alice@example.com", after)
	link := testenv.ResetLink(t, msg)
	if !strings.HasPrefix(link, base+"/") || strings.Contains(msg.HTML+msg.Text, "evil.example") {
		t.Errorf("forged host reached the mail: %s", link)
	}
}

// TestConcurrentSubmitsThroughCaddy: 50 simultaneous POSTs of one ticket; exactly
// one password change reaches the app.
func TestConcurrentSubmitsThroughCaddy(t *testing.T) {
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	csrf := s.openForm(link)
	body := url.Values{"_csrf": {csrf}, "ticket": {testenv.Ticket(t, link)},
		"newPassword": {newPassword}, "confirmNewPassword": {newPassword}}.Encode()
	const n = 50
	codes := make(chan int, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for range n {
		wg.Go(func() {
			start.Wait()
			req, _ := http.NewRequest("POST", base+"/lo/reset", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := s.tester.Client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	start.Done()
	wg.Wait()
	close(codes)
	counts := map[int]int{}
	for c := range codes {
		counts[c]++
	}
	// The losers are told the link was used (410) or, past the per-ticket limit,
	// to slow down (429).
	if counts[http.StatusSeeOther] != 1 || counts[http.StatusGone]+counts[http.StatusTooManyRequests] != n-1 {
		t.Errorf("status counts %v: want one 303 and %d 410 or 429", counts, n-1)
	}
	if c := s.app.PasswordChanges(); c != 1 {
		t.Errorf("the app saw %d password changes, want 1", c)
	}
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
