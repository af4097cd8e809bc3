package e2e

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestSecurityClasses runs one check through Caddy for each class of flaw that
// real reset flows have had (reference/security.md, section 4), named after it.
func TestSecurityClasses(t *testing.T) {
	classes := []struct {
		name  string
		check func(t *testing.T, s *stack)
	}{
		{"host header poisoning (WordPress CVE-2017-8295, Django CVE-2012-4520)", checkHostHeaderPoisoning},
		{"token leak via Referer, history or page (SilverStripe CVE-2010-5080)", checkTokenLeak},
		{"race on single use (Kratos HackerOne 3692149, Spring CVE-2026-22751)", checkSingleUseRace},
		{"token not invalidated (Sylius CVE-2022-24743, Vikunja CVE-2026-28268)", checkInvalidation},
		{"predictable token (openCRX CVE-2020-7378)", checkTokenUnpredictable},
		{"user enumeration (authentik CVE-2023-39522, Grafana CVE-2022-39307)", checkEnumeration},
		{"Unicode collision (GitHub dotless i, Django CVE-2019-19844)", checkUnicodeCollision},
		{"parameter arrays (GitLab CVE-2023-7028)", checkParameterArrays},
		{"header injection (Commons Email CVE-2017-9801, go#21159)", checkHeaderInjection},
	}
	for _, c := range classes {
		// The checks ask for many links for one user: the per-user email limit
		// (3, then 1 per 5 minutes) is not what they test.
		t.Run(c.name, func(t *testing.T) { c.check(t, newStack(t, "\t\trate_limit {\n\t\t\tuser 100 1s\n\t\t}")) })
	}
}

// checkHostHeaderPoisoning: links are built on public_url, whatever the Host,
// X-Forwarded-Host or Forwarded headers say.
func checkHostHeaderPoisoning(t *testing.T, s *stack) {
	after := s.box.LastID()
	s.requestReset("alice@example.com", "Host", "evil.example:9080", "X-Forwarded-Host", "evil.example",
		"Forwarded", "host=evil.example")
	msg := s.box.WaitMail(t, "alice@example.com", after)
	link := testenv.ResetLink(t, msg)
	if !strings.HasPrefix(link, base+"/") || strings.Contains(msg.HTML+msg.Text+strings.Join(msg.Links, " "), "evil.example") {
		t.Errorf("forged host reached the mail: %s", link)
	}
}

// checkTokenLeak: the ticket leaves the URL at once, never appears in a page, a
// Location or a Referer, and lives only in an HttpOnly cookie.
func checkTokenLeak(t *testing.T, s *stack) {
	link := s.resetLink("alice@example.com")
	ticket := testenv.Ticket(t, link)
	resp, page := s.do("GET", strings.TrimPrefix(link, base), "", "")
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || strings.Contains(page, ticket) ||
		strings.Contains(resp.Header.Get("Location"), ticket) {
		t.Errorf("the link's page leaks the ticket or allows a Referer")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if regexp.MustCompile(`https?://`).MatchString(strings.Split(csp, "form-action")[0]) {
		t.Errorf("CSP lets a third-party origin load into the page: %s", csp)
	}
	resp, page = s.do("GET", "/lo/reset", "", "")
	if resp.StatusCode != 200 || strings.Contains(page, ticket) {
		t.Errorf("the form page (%d) holds the ticket", resp.StatusCode)
	}
}

// checkSingleUseRace: 50 simultaneous POSTs of one ticket; exactly one password
// change reaches the app.
func checkSingleUseRace(t *testing.T, s *stack) {
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
	// The losers are told the link was used or is being used (410) or, past the
	// per-ticket limit, to slow down (429).
	if counts[http.StatusSeeOther] != 1 || counts[http.StatusGone]+counts[http.StatusConflict]+counts[http.StatusTooManyRequests] != n-1 {
		t.Errorf("status counts %v: want one 303 and %d 409, 410 or 429", counts, n-1)
	}
	if c := s.app.PasswordChanges(); c != 1 {
		t.Errorf("the app saw %d password changes, want 1", c)
	}
}

// checkInvalidation: a ticket dies when it is used, when a newer one is issued,
// and when the password changes through another ticket.
func checkInvalidation(t *testing.T, s *stack) {
	first := s.resetLink("alice@example.com")
	second := s.resetLink("alice@example.com")
	if resp, _ := s.do("GET", strings.TrimPrefix(first, base), "", ""); resp.StatusCode != http.StatusGone {
		t.Errorf("the older link after a newer one: %d, want 410", resp.StatusCode)
	}
	csrf := s.openForm(second)
	resp, _ := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword}}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if resp, _ := s.do("GET", strings.TrimPrefix(second, base), "", ""); resp.StatusCode != http.StatusGone {
		t.Errorf("the used link: %d, want 410", resp.StatusCode)
	}
}

// checkTokenUnpredictable: tickets are 256 random bits (43 base64url characters),
// all different, with nothing of the user in the link.
func checkTokenUnpredictable(t *testing.T, s *stack) {
	seen := map[string]bool{}
	for range 5 {
		for _, email := range []string{"alice@example.com", "bob@example.com"} {
			link := s.resetLink(email)
			ticket := testenv.Ticket(t, link)
			raw, err := base64.RawURLEncoding.DecodeString(ticket)
			if err != nil || len(raw) != 32 || seen[ticket] {
				t.Fatalf("ticket %q: %d bytes, %v, seen before: %v", ticket, len(raw), err, seen[ticket])
			}
			seen[ticket] = true
			if strings.Contains(link, "alice") || strings.Contains(link, "bob") || strings.Contains(link, "user-") {
				t.Errorf("the link names the user: %s", link)
			}
		}
	}
}

// checkEnumeration: the same status, body, headers and cookies for a known, an
// unknown and a blocked address; mail only for the known one.
func checkEnumeration(t *testing.T, s *stack) {
	ask := func(email string) (*http.Response, string) {
		body := `{"client_id":"demo-app","email":"` + email + `","connection":"` + conn + `"}`
		return s.do("POST", "/dbconnections/change_password", "application/json", body)
	}
	known, knownBody := ask("bob@example.com")
	for _, other := range []string{"nobody@example.com", "carol@example.com"} {
		resp, body := ask(other)
		if resp.StatusCode != known.StatusCode || body != knownBody || len(resp.Cookies()) != len(known.Cookies()) {
			t.Errorf("%s: %d %q vs %d %q", other, resp.StatusCode, body, known.StatusCode, knownBody)
		}
		// Date and the rate limit's reset time are clocks, the same for both up
		// to the second; everything else must match exactly.
		for _, h := range []string{"Date", "X-Ratelimit-Reset", "X-Ratelimit-Remaining"} {
			resp.Header.Del(h)
		}
		k := known.Header.Clone()
		for _, h := range []string{"Date", "X-Ratelimit-Reset", "X-Ratelimit-Remaining"} {
			k.Del(h)
		}
		if a, b := headerString(k), headerString(resp.Header); a != b {
			t.Errorf("%s: headers differ:\n%s\nvs\n%s", other, a, b)
		}
	}
	s.box.WaitMail(t, "bob@example.com", 0)
	testenv.Eventually(t, "the three lookups", func() (bool, error) { return s.app.HookCalls("get_user") == 3, nil })
	s.drained()
	if n := s.box.Count(); n != 1 {
		t.Errorf("%d mails, want only bob's", n)
	}
}

// checkUnicodeCollision: mail goes only to the address the app stores, never to
// the string typed; look-alike addresses that the app does not match get nothing.
func checkUnicodeCollision(t *testing.T, s *stack) {
	for _, typed := range []string{"ALICE@EXAMPLE.COM", " alice@Example.com "} {
		after := s.box.LastID()
		s.requestReset(typed)
		msg := s.box.WaitMail(t, "alice@example.com", after)
		if msg.EnvelopeTo[0] != "alice@example.com" {
			t.Errorf("%q: mail went to %v", typed, msg.EnvelopeTo)
		}
	}
	for _, lookalike := range []string{"alıce@example.com", "ａｌｉｃｅ@example.com", "alice@exampIe.com"} {
		s.requestReset(lookalike)
	}
	s.drained()
	for _, m := range s.box.Messages() {
		if m.EnvelopeTo[0] != "alice@example.com" {
			t.Errorf("mail went to %v", m.EnvelopeTo)
		}
	}
	if n := s.box.Count(); n != 2 {
		t.Errorf("%d mails, want the two for alice", n)
	}
}

// checkParameterArrays: an array, a repeated field or a field-name variant for the
// email is refused, and nothing is sent to either address.
func checkParameterArrays(t *testing.T, s *stack) {
	for _, body := range []string{
		`{"email":["alice@example.com","eve@evil.test"],"client_id":"demo-app","connection":"` + conn + `"}`,
		`{"email":"alice@example.com","Email":"eve@evil.test","client_id":"demo-app","connection":"` + conn + `"}`,
	} {
		if resp, _ := s.do("POST", "/dbconnections/change_password", "application/json", body); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", body, resp.StatusCode)
		}
	}
	resp, _ := s.do("POST", "/dbconnections/change_password", "application/x-www-form-urlencoded",
		"email=alice%40example.com&email=eve%40evil.test&connection="+conn)
	if resp.StatusCode != 400 {
		t.Errorf("repeated form field: %d, want 400", resp.StatusCode)
	}
	s.drained()
	if s.app.HookCalls("get_user") != 0 || s.box.Count() != 0 {
		t.Error("a refused request reached the app or the mail")
	}
}

// checkHeaderInjection: CR/LF aimed at mail headers is refused before anything is
// stored or sent.
func checkHeaderInjection(t *testing.T, s *stack) {
	for _, email := range []string{"alice@example.com\r\nBcc: eve@evil.test", "alice@example.com\nBcc: eve@evil.test",
		"alice@example.com%0d%0aBcc:eve@evil.test", "\"alice\r\n\"@example.com"} {
		body := `{"email":` + jsonString(email) + `,"client_id":"demo-app","connection":"` + conn + `"}`
		if resp, _ := s.do("POST", "/dbconnections/change_password", "application/json", body); resp.StatusCode != 400 {
			t.Errorf("%q: %d, want 400", email, resp.StatusCode)
		}
	}
	s.drained()
	if s.box.Count() != 0 || s.app.HookCalls("get_user") != 0 {
		t.Error("an injection attempt reached the app or the mail")
	}
}

func jsonString(s string) string {
	r := strings.NewReplacer("\\", `\\`, `"`, `\"`, "\r", `\r`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
