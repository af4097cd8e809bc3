package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

const goodPassword = "Correct-Horse-9-battery"

// TestFormOpenPastLifetimeSaysExpired: a form sent after its link expired says
// "Link Expired", whether the ticket's cookie is still there (it lives its 30
// minutes whatever the ticket's remaining life) or gone (the form names the
// ticket by its non-secret reference); a used link says so, and a link that
// still works says that only the session ran out (issue 8, item 16 a).
func TestFormOpenPastLifetimeSaysExpired(t *testing.T) {
	env := newPageEnv(t, policy.Policy{Level: policy.LevelGood})
	submit := func(form fetched, cookies ...*http.Cookie) fetched {
		return env.post(t, env.url+PathReset, url.Values{
			"_csrf": {hiddenField(t, form.body, "_csrf")}, "ref": {hiddenField(t, form.body, "ref")},
			"newPassword": {goodPassword}, "confirmNewPassword": {goodPassword},
		}, cookies...)
	}

	t.Run("cookie outlives the ticket", func(t *testing.T) {
		form, cookies := env.openForm(t, env.ticket(t, 2*time.Minute))
		if got := cookies[0].MaxAge; got != int(ticketCookieLife/time.Second) {
			t.Errorf("the ticket cookie's Max-Age is %d for a ticket that lives 2 minutes, want %d", got, int(ticketCookieLife/time.Second))
		}
		env.clock.Advance(3 * time.Minute)
		if got := submit(form, cookies...); got.StatusCode != http.StatusGone || !strings.Contains(got.body, "Link Expired") {
			t.Errorf("submit after the link expired: %d\n%s", got.StatusCode, got.body)
		}
	})

	t.Run("cookies gone, link expired", func(t *testing.T) {
		form, _ := env.openForm(t, env.ticket(t, 10*time.Minute))
		env.clock.Advance(2 * time.Hour)
		// After two hours the browser dropped the ticket's cookie and the CSRF
		// token's as well.
		got := submit(form)
		if got.StatusCode != http.StatusGone || !strings.Contains(got.body, "Link Expired") ||
			!strings.Contains(got.body, "forgot?client_id=demo-app") || !strings.Contains(got.body, "Demo App") {
			t.Errorf("submit without cookies after the link expired: %d\n%s", got.StatusCode, got.body)
		}
	})

	t.Run("cookie gone, link used", func(t *testing.T) {
		link := env.ticket(t, time.Hour)
		form, _ := env.openForm(t, link)
		tok, _ := url.Parse(link)
		if _, err := env.svc.CompleteReset(context.Background(), reset.ResetForm{
			Ticket: tok.Query().Get("ticket"), Password: "Another-Horse-7-battery", Confirm: "Another-Horse-7-battery"}); err != nil {
			t.Fatal(err)
		}
		if got := submit(form); got.StatusCode != http.StatusGone || !strings.Contains(got.body, "already been used") {
			t.Errorf("submit without cookies of a used link: %d\n%s", got.StatusCode, got.body)
		}
	})

	t.Run("cookie gone, link still valid", func(t *testing.T) {
		form, cookies := env.openForm(t, env.ticket(t, time.Hour))
		got := submit(form, cookies[1]) // the CSRF cookie only
		if got.StatusCode != http.StatusBadRequest || !strings.Contains(got.body, "Your session expired: open the link from your email again") {
			t.Errorf("submit without the ticket's cookie: %d\n%s", got.StatusCode, got.body)
		}
		if again := submit(form, cookies...); again.StatusCode != http.StatusSeeOther {
			t.Errorf("the link stopped working after the dead form was sent: %d\n%s", again.StatusCode, again.body)
		}
	})

	t.Run("unknown reference", func(t *testing.T) {
		form, _ := env.openForm(t, env.ticket(t, time.Hour))
		got := env.post(t, env.url+PathReset, url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")},
			"ref": {strings.Repeat("ab", 32)}, "newPassword": {goodPassword}, "confirmNewPassword": {goodPassword}})
		if got.StatusCode != http.StatusNotFound || !strings.Contains(got.body, "Invalid Link") {
			t.Errorf("submit with an unknown reference: %d\n%s", got.StatusCode, got.body)
		}
	})
}

// ruleMarks returns "code=state" for every rule of a reset page, in order.
func ruleMarks(body string) string {
	var marks []string
	for _, m := range regexp.MustCompile(`<li class="rule ?([a-z]*)" data-rule="([a-zA-Z]+)"`).FindAllStringSubmatch(body, -1) {
		marks = append(marks, m[2]+"="+m[1])
	}
	return strings.Join(marks, " ")
}

// TestRefusedSubmitMarksRules: after a refused submit the page marks each rule,
// and each item, as met or not, without JavaScript; a rule the server did not
// reach stays unmarked (issue 8, item 16 c).
func TestRefusedSubmitMarksRules(t *testing.T) {
	env := newPageEnv(t, policy.Policy{Level: policy.LevelExcellent, Dictionary: true, NoPersonalInfo: true, History: 3})
	form, cookies := env.openForm(t, env.ticket(t, time.Hour))
	if got, want := ruleMarks(form.body), "lengthAtLeast= containsAtLeast= lowerCase= upperCase= numbers= specialCharacters= identicalChars= notCommon= noPersonalInfo= notReused="; got != want {
		t.Errorf("the new form marks\n %s\nwant\n %s", got, want)
	}
	for _, tt := range []struct{ password, problem, marks string }{
		{"aaab", "Password is too weak.",
			"lengthAtLeast=unmet containsAtLeast=unmet lowerCase=met upperCase=unmet numbers=unmet specialCharacters=unmet identicalChars=unmet notCommon=met noPersonalInfo= notReused="},
		{"Password123", "Password is too common.",
			"lengthAtLeast=met containsAtLeast=met lowerCase=met upperCase=met numbers=met specialCharacters=unmet identicalChars=met notCommon=unmet noPersonalInfo= notReused="},
		{"Alice-Smith-2024", "Password contains user information.",
			"lengthAtLeast=met containsAtLeast=met lowerCase=met upperCase=met numbers=met specialCharacters=met identicalChars=met notCommon=met noPersonalInfo=unmet notReused="},
	} {
		got := env.post(t, env.url+PathReset, url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")},
			"newPassword": {tt.password}, "confirmNewPassword": {tt.password}}, cookies...)
		if got.StatusCode != http.StatusBadRequest || !strings.Contains(got.body, tt.problem) {
			t.Errorf("%q: %d, want 400 with %q\n%s", tt.password, got.StatusCode, tt.problem, got.body)
		}
		if marks := ruleMarks(got.body); marks != tt.marks {
			t.Errorf("%q marks\n %s\nwant\n %s", tt.password, marks, tt.marks)
		}
		for _, want := range []string{"Your password must contain:", "At least 10 characters", "At least 3 of the following 4 types of characters:", "It must also:", "Not be a commonly used password"} {
			if !strings.Contains(got.body, want) {
				t.Errorf("%q: the page lacks %q", tt.password, want)
			}
		}
	}
}

// TestPagesAllowTheirOwnScriptOnly: the CSP lets the reset page load its script
// from the plugin's assets, and nothing inline.
func TestPagesAllowTheirOwnScriptOnly(t *testing.T) {
	env := newPageEnv(t, policy.Policy{})
	form, _ := env.openForm(t, env.ticket(t, time.Hour))
	csp := form.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(form.body, `<script src="assets/rules.js" defer></script>`) || strings.Count(form.body, "<script") != 1 {
		t.Errorf("the form does not load its script alone:\n%s", form.body)
	}
	js := env.get(t, env.url+"/lo/assets/rules.js")
	if js.StatusCode != http.StatusOK || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") ||
		js.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("rules.js: %d %q", js.StatusCode, js.Header.Get("Content-Type"))
	}
}

// TestCheckYourEmailLeadsBack: the page after the forgot form names the
// application and links back to it, as the forgot page does (issue 8, item 16 d).
func TestCheckYourEmailLeadsBack(t *testing.T) {
	env := newPageEnv(t, policy.Policy{})
	forgot := env.get(t, env.url+PathForgot+"?client_id=demo-app")
	got := env.post(t, env.url+PathForgot, url.Values{"_csrf": {hiddenField(t, forgot.body, "_csrf")},
		"client_id": {"demo-app"}, "connection": {pageConn}, "email": {"alice@example.com"}}, forgot.cookie(t, "pwreset_csrf"))
	for _, want := range []string{"Check Your Email", `<p class="brand">Demo App</p>`,
		`<a href="` + env.app.URL + `/login" data-testid="back">Back to Demo App</a>`, "Resend email"} {
		if !strings.Contains(got.body, want) {
			t.Errorf("the page lacks %q:\n%s", want, got.body)
		}
	}
}

// TestCSRFTokenOutlivesTheForm: each page that puts the CSRF token in a form
// sets its cookie again, so a token set long before (by the forgot page) does
// not expire while the reset form's ticket cookie still lives.
func TestCSRFTokenOutlivesTheForm(t *testing.T) {
	env := newPageEnv(t, policy.Policy{})
	first := env.get(t, env.url+PathForgot).cookie(t, "pwreset_csrf")
	ticket := env.get(t, env.ticket(t, time.Hour)).cookie(t, "pwreset_ticket")
	again := env.get(t, env.url+PathReset, ticket, first).cookie(t, "pwreset_csrf")
	if again.Value != first.Value || again.MaxAge != int(csrfCookieLife/time.Second) || csrfCookieLife <= ticketCookieLife {
		t.Errorf("the form's CSRF cookie %+v, want %s again for %s", again, first.Value, csrfCookieLife)
	}
}
