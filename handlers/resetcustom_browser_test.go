package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// xhrPage is a custom reset page whose own script (xhrScript, served from the
// page's origin as the CSP requires) posts the form with XMLHttpRequest and
// no header of its own, as a page written for Auth0's widget does, and reads
// Auth0's JSON answers.
const xhrPage = `<!DOCTYPE html>
<html lang="en">
<head><title>Reset · {{ tenant.friendly_name }}</title><script src="/app/reset.js" defer></script></head>
<body>
<p>Choose a new password for <span id="email">{{ email }}</span>.</p>
<form id="custom-form" method="post" action="{{ form_action }}">
<input type="hidden" name="_csrf" value="{{ csrf_token }}">
<input type="hidden" name="ticket" value="{{ ticket }}">
<input type="text" name="email" value="{{ email }}" autocomplete="username" hidden readonly>
<input type="password" id="newPassword" name="newPassword" autocomplete="new-password">
<input type="password" id="confirmNewPassword" name="confirmNewPassword" autocomplete="new-password">
<button type="submit">Reset</button>
</form>
<p id="status" role="status"></p>
</body>
</html>
`

const xhrScript = `"use strict";
document.getElementById("custom-form").addEventListener("submit", (event) => {
	event.preventDefault();
	const form = event.target;
	const xhr = new XMLHttpRequest();
	xhr.open("POST", form.action);
	xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
	xhr.onload = () => {
		const body = JSON.parse(xhr.responseText);
		const status = document.getElementById("status");
		if (xhr.status === 200) {
			status.textContent = "done: " + body.message;
			if (typeof body.result_url === "string") window.location.replace(body.result_url);
			return;
		}
		status.textContent = xhr.status + " " + body.name + ": " + body.message;
	};
	xhr.onerror = () => { document.getElementById("status").textContent = "network error"; };
	xhr.send(new URLSearchParams(new FormData(form)).toString());
});
`

// TestBrowserCustomResetPage: in a real browser, a custom reset page's own
// script posts the form by XHR, shows the JSON error of a weak password and
// of a mismatch, then succeeds and goes to the result URL, with no CSP
// violation on the way (the page may load its script from its own origin and
// post to it; nothing inline runs).
func TestBrowserCustomResetPage(t *testing.T) {
	page, err := templates.CompileResetPage(xhrPage)
	if err != nil {
		t.Fatal(err)
	}
	env := newPageEnvWith(t, policyGood, func(p *Public) http.Handler {
		p.UseResetPage(page)
		mux := http.NewServeMux()
		mux.Handle("/", p)
		mux.HandleFunc("GET /app/reset.js", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			fmt.Fprint(w, xhrScript)
		})
		return mux
	})
	b := newTab(t)
	b.do("open the link", chromedp.Navigate(env.ticket(t, time.Hour)), chromedp.WaitVisible(chromedp.ID("newPassword")))
	if got := b.eval(`document.getElementById("email").textContent`); got != "alice@example.com" {
		t.Errorf("the page shows %q", got)
	}
	submit := func(what, password, confirm, want string) {
		t.Helper()
		b.eval(fmt.Sprintf(`(() => { document.getElementById("status").textContent = "";
			document.getElementById("newPassword").value = %q; document.getElementById("confirmNewPassword").value = %q; return "" })()`,
			password, confirm))
		b.do(what, chromedp.Click(chromedp.CSS(`#custom-form button`)), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("status").textContent.startsWith(%q)`, want),
				chromedp.WithPollingMutation()))
			if err != nil {
				got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
				return fmt.Errorf("%w: the page says %q, want %q", err, got, want)
			}
			return nil
		}))
	}
	submit("a weak password", "abc", "abc", "400 PasswordStrengthError: Password is too weak")
	submit("a mismatch", goodPassword, goodPassword+"x", "400 PasswordMismatchError: Please ensure the password and the confirmation are the same.")
	if env.app.CheckPassword("alice@example.com", goodPassword) {
		t.Fatal("a refused submit changed the password")
	}
	b.eval(fmt.Sprintf(`(() => { document.getElementById("newPassword").value = %q;
		document.getElementById("confirmNewPassword").value = %q; return "" })()`, goodPassword, goodPassword))
	b.do("a good password", chromedp.Click(chromedp.CSS(`#custom-form button`)))
	// The script navigates away: poll the tab's location, which outlives the page.
	var at string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if at, _ = chromedp.Run(b.ctx, chromedp.Location()); strings.HasPrefix(at, env.app.URL+"/login?") {
			break
		}
	}
	if !strings.HasPrefix(at, env.app.URL+"/login?") || !strings.Contains(at, "success=true") {
		t.Fatalf("after the good password the tab is at %q, want the result URL with success=true", at)
	}
	if !env.app.CheckPassword("alice@example.com", goodPassword) {
		t.Error("the password was not changed")
	}
	var logged []string
	for _, line := range b.logged() {
		if !strings.Contains(line, "/login") { // the demo app's own page is not under test
			logged = append(logged, line)
		}
	}
	if len(logged) > 0 {
		t.Errorf("the pages logged (a CSP violation, an error):\n%s", strings.Join(logged, "\n"))
	}
}
