package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
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

// TestResetPageTicketErrors: the reset link's page for each reason a ticket
// cannot be used, with its status, Auth0's words and a way to ask for a new
// link for the same application; the same whether the ticket comes in the
// link or in its cookie (which is then cleared), and for a submit.
func TestResetPageTicketErrors(t *testing.T) {
	forApp := `href="forgot?client_id=demo-app&amp;connection=` + url.QueryEscape(pageConn) + `"`
	for _, tt := range []struct {
		name string
		// ticket returns the link of a ticket in the state, with the env set up.
		ticket func(t *testing.T, env *pageEnv) string
		status int
		texts  []string
	}{
		{"invalid", func(t *testing.T, env *pageEnv) string {
			return env.url + PathReset + "?ticket=" + strings.Repeat("A", 43)
		}, http.StatusNotFound, []string{"Invalid Link", "This link is not valid.", `href="forgot"`}},
		{"malformed", func(t *testing.T, env *pageEnv) string {
			return env.url + PathReset + "?ticket=not-a-ticket"
		}, http.StatusNotFound, []string{"Invalid Link", `href="forgot"`}},
		{"used", func(t *testing.T, env *pageEnv) string {
			link := env.ticket(t, time.Hour)
			env.useTicket(t, link)
			return link
		}, http.StatusGone, []string{"Invalid Link", "This link has already been used.", forApp}},
		{"expired", func(t *testing.T, env *pageEnv) string {
			link := env.ticket(t, time.Hour)
			env.clock.Advance(time.Hour + time.Second)
			return link
		}, http.StatusGone, []string{"Link Expired", forApp}},
		{"superseded", func(t *testing.T, env *pageEnv) string {
			link := env.ticket(t, time.Hour)
			env.ticket(t, time.Hour)
			return link
		}, http.StatusGone, []string{"Invalid Link", "a newer one was sent", forApp}},
		{"cancelled", func(t *testing.T, env *pageEnv) string {
			link := env.ticket(t, time.Hour)
			if err := env.svc.CancelTicket(context.Background(), reset.TicketRef(tokenOf(t, link)), "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
			return link
		}, http.StatusGone, []string{"Invalid Link", "no longer valid", forApp}},
		{"account blocked", func(t *testing.T, env *pageEnv) string {
			link := env.ticket(t, time.Hour)
			env.app.SetBlocked("alice@example.com", true)
			if _, err := env.svc.CompleteReset(context.Background(), reset.ResetForm{Ticket: tokenOf(t, link), Password: goodPassword, Confirm: goodPassword}); !errors.Is(err, reset.ErrTicketAccountBlocked) {
				t.Fatalf("a submit for a blocked account: %v", err)
			}
			return link
		}, http.StatusGone, []string{"Link Cancelled", "the account is blocked", forApp}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newPageEnv(t, policyGood)
			link := tt.ticket(t, env)
			tok := strings.TrimPrefix(link, env.url+PathReset+"?ticket=")
			byLink := env.get(t, link)
			wantPage(t, "the link", byLink, tt.status, tt.texts...)
			if c := setCookie(byLink, "pwreset_ticket"); c != nil {
				t.Errorf("the link's refusal sets the ticket cookie %+v", c)
			}
			byCookie := env.get(t, env.url+PathReset, &http.Cookie{Name: "pwreset_ticket", Value: tok})
			wantPage(t, "the cookie", byCookie, tt.status, tt.texts...)
			if c := setCookie(byCookie, "pwreset_ticket"); c == nil || c.MaxAge >= 0 || c.Path != PathReset {
				t.Errorf("the cookie's refusal does not clear the ticket cookie: %+v", c)
			}
			csrf := strings.Repeat("C", 26)
			submit := env.post(t, env.url+PathReset, url.Values{"_csrf": {csrf}, "ticket": {tok},
				"newPassword": {goodPassword}, "confirmNewPassword": {goodPassword}}, &http.Cookie{Name: "pwreset_csrf", Value: csrf})
			wantPage(t, "a submit", submit, tt.status, tt.texts...)
			if env.app.CheckPassword("alice@example.com", goodPassword) && tt.name != "used" {
				t.Error("the refused ticket changed the password")
			}
		})
	}
}

// TestResetPageBusy: while a submit's change_password call runs, the link, the
// form and a second submit say the change is in progress (409), and make no
// second call; the first submit then completes.
func TestResetPageBusy(t *testing.T) {
	gate, held := gateChangePassword()
	env := newPageEnv(t, policyGood, held)
	t.Cleanup(gate.open)
	link := env.ticket(t, time.Hour)
	form, cookies := env.openForm(t, link)
	values := url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")}, "ref": {hiddenField(t, form.body, "ref")},
		"newPassword": {goodPassword}, "confirmNewPassword": {goodPassword}}
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, env.url+PathReset, strings.NewReader(values.Encode()))
		req.Header.Set("Content-Type", ctForm)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := testenv.NoRedirects().Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	gate.wait(t)
	busy := []string{"Please Wait", "Your password is being changed"}
	wantPage(t, "the link", env.get(t, link), http.StatusConflict, busy...)
	wantPage(t, "the form", env.get(t, env.url+PathReset, cookies[0]), http.StatusConflict, busy...)
	wantPage(t, "a second submit", env.post(t, env.url+PathReset, values, cookies...), http.StatusConflict, busy...)
	gate.open()
	if status := <-first; status != http.StatusSeeOther {
		t.Fatalf("the first submit: %d, want 303", status)
	}
	if n := env.app.HookCalls("change_password"); n != 1 {
		t.Errorf("%d change_password calls, want 1", n)
	}
}

// TestResetSubmitSucceeds: a good password ends in a 303 to the result URL with
// Auth0's parameters (success, message and, unless the ticket says otherwise,
// the email), clears the ticket's cookie and sets the password; without a
// result URL, a page says so.
func TestResetSubmitSucceeds(t *testing.T) {
	noEmail := false
	for _, tt := range []struct {
		name      string
		opts      []func(*service.Config)
		req       admin.TicketRequest
		byField   bool // the ticket in Auth0's ticket field rather than its cookie
		wantEmail bool
		resultURL bool
	}{
		{name: "default", wantEmail: true, resultURL: true},
		{name: "ticket field", byField: true, wantEmail: true, resultURL: true},
		{name: "without the email", req: admin.TicketRequest{IncludeEmailInRedirect: &noEmail}, resultURL: true},
		{name: "no result URL", opts: []func(*service.Config){func(c *service.Config) { c.Site.Clients["demo-app"].ResultURL = "" }}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newPageEnv(t, policyGood, tt.opts...)
			form, cookies := env.openForm(t, env.ticketFor(t, "alice@example.com", time.Hour, tt.req))
			values := url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")},
				"newPassword": {goodPassword}, "confirmNewPassword": {goodPassword}}
			if tt.byField {
				values.Set("ticket", cookies[0].Value)
				cookies = cookies[1:]
			}
			got := env.post(t, env.url+PathReset, values, cookies...)
			if !env.app.CheckPassword("alice@example.com", goodPassword) {
				t.Error("the password was not changed")
			}
			if c := setCookie(got, "pwreset_ticket"); c == nil || c.MaxAge >= 0 {
				t.Errorf("the ticket cookie is not cleared: %+v", c)
			}
			if !tt.resultURL {
				wantPage(t, "the success page", got, http.StatusOK, "Password Changed!", "Your password has been changed successfully.")
				return
			}
			if got.StatusCode != http.StatusSeeOther || got.Header.Get("Cache-Control") != "no-store" || got.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("%d %v, want 303 with the pages' headers", got.StatusCode, got.Header)
			}
			to, err := url.Parse(got.Header.Get("Location"))
			if err != nil || to.Scheme+"://"+to.Host+to.Path != env.app.URL+"/login" {
				t.Fatalf("Location %q, want %s/login", got.Header.Get("Location"), env.app.URL)
			}
			q := to.Query()
			if q.Get("success") != "true" || q.Get("message") != reset.SuccessMessage {
				t.Errorf("Location %s: want success=true and message=%q", to, reset.SuccessMessage)
			}
			if email, ok := q["email"]; ok != tt.wantEmail || (ok && email[0] != "alice@example.com") {
				t.Errorf("Location %s: email %v, want it: %v", to, email, tt.wantEmail)
			}
		})
	}
}

// TestResetSubmitRefusals: a submit the user can fix shows the form again with
// the reason and leaves the link working; one that cannot be read, a foreign
// form and an app that is down get their page.
func TestResetSubmitRefusals(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	link := env.ticket(t, time.Hour)
	form, cookies := env.openForm(t, link)
	csrf := hiddenField(t, form.body, "_csrf")
	values := func(password, confirm string, extra ...string) url.Values {
		return withFields(url.Values{"_csrf": {csrf}, "newPassword": {password}, "confirmNewPassword": {confirm}}, extra...)
	}
	env.wantForms(t, PathReset, []formCase{
		{"passwords differ", values(goodPassword, goodPassword+"x"), cookies, 400, []string{reset.ErrPasswordsDiffer.Message, `name="newPassword"`}},
		{"no password", values("", ""), cookies, 400, []string{reset.ErrPasswordMissing.Message, `name="newPassword"`}},
		{"no confirmation", values(goodPassword, ""), cookies, 400, []string{reset.ErrConfirmationMissing.Message}},
		{"too weak", values("abc", "abc"), cookies, 400, []string{"Password is too weak.", `name="newPassword"`}},
		{"no CSRF field", values(goodPassword, goodPassword, "_csrf", ""), cookies, 403, []string{"Your session expired or the form was sent from another site"}},
		{"no CSRF cookie", values(goodPassword, goodPassword), cookies[:1], 403, []string{"Your session expired"}},
		{"unknown field", values(goodPassword, goodPassword, "password", goodPassword), cookies, 400, []string{"The form could not be read. (unknown field"}},
		{"too large", values(strings.Repeat("x", maxFormBody), "x"), cookies, 413, []string{"The form could not be read. (request body is too large)"}},
		{"no ticket", values(goodPassword, goodPassword), cookies[1:], 404, []string{"Invalid Link", `href="forgot"`}},
	})
	env.app.Stop()
	down := env.post(t, env.url+PathReset, values(goodPassword, goodPassword), cookies...)
	wantPage(t, "app down", down, http.StatusServiceUnavailable, reset.ErrAppUnavailable.Message, `name="newPassword"`)
	if got := down.Header.Get("Retry-After"); got != "5" {
		t.Errorf("app down: Retry-After %q, want 5 (as the API's 503)", got)
	}
	env.app.Restart(t)
	if got := env.post(t, env.url+PathReset, values(goodPassword, goodPassword), cookies...); got.StatusCode != http.StatusSeeOther {
		t.Errorf("the link after the refusals: %d\n%s", got.StatusCode, got.body)
	}
}

// TestResetSubmitRateLimited: past the per-ticket limit of the form, a page
// says to wait, with Retry-After, and the form is not shown.
func TestResetSubmitRateLimited(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	form, cookies := env.openForm(t, env.ticket(t, time.Hour))
	values := url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")}, "newPassword": {"abc"}, "confirmNewPassword": {"abc"}}
	for i := range reset.DefaultLimits().ResetTicket.Burst {
		if got := env.post(t, env.url+PathReset, values, cookies...); got.StatusCode != http.StatusBadRequest {
			t.Fatalf("weak password %d: %d", i+1, got.StatusCode)
		}
	}
	got := env.post(t, env.url+PathReset, values, cookies...)
	wantPage(t, "past the limit", got, http.StatusTooManyRequests, "Too many attempts.")
	if got.Header.Get("Retry-After") == "" || strings.Contains(got.body, `name="newPassword"`) {
		t.Errorf("Retry-After %q; the form shown: %v", got.Header.Get("Retry-After"), strings.Contains(got.body, `name="newPassword"`))
	}
}
