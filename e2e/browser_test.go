package e2e

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const (
	// chromiumPath is Debian's chromium package. The browser tests never skip:
	// a missing browser fails them.
	chromiumPath = "/usr/bin/chromium"
	// browserTimeout bounds everything one test does in the browser, from its
	// start to its last wait.
	browserTimeout = 60 * time.Second
	// resultMessage is Auth0's message on the result URL after a reset.
	resultMessage = "You can now login to the application with the new password."
)

// browser is one headless Chromium with one tab, and what its pages wrote to
// the console.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu        sync.Mutex
	console   []consoleEntry
	documents map[string]bool // URLs of the pages the tab loaded
	notify    chan struct{}   // has a value after a console message arrives
}

// consoleEntry is a console call, an uncaught exception or a browser log entry
// (where CSP violations and failed loads show up).
type consoleEntry struct {
	line        string
	source, url string // of a log entry
}

// failedLoad is how Chromium logs a resource answered with an HTTP error status.
const failedLoad = "Failed to load resource: the server responded with a status of"

// newBrowser starts a headless Chromium with a fresh profile for this test, with
// extra options if any. Everything it does must end within browserTimeout.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need headless Chromium at %s (Debian's chromium package) and never skip: "+
			"run the tests with the README's test command, ./test.sh, which installs it. %v", chromiumPath, err)
	}
	var output lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&output),
	)
	opts = append(opts, extra...)
	timeout, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx, documents: map[string]bool{}, notify: make(chan struct{}, 1)}
	// Cleanups run last-registered first: this one runs before t.TempDir removes
	// the profile.
	t.Cleanup(func() {
		// Close the browser gracefully, so that its helper processes end with it
		// and leave the profile alone; then free the rest.
		closing, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := chromedp.Cancel(closing); err != nil {
			t.Logf("closing Chromium: %v", err)
		}
		cancel()
		cancelTab()
		cancelAlloc()
		cancelTimeout()
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", output.String())
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v\n%s", chromiumPath, err, output.String())
	}
	// Listen (chromedp v0.23's ListenTarget) sees the events in the order the
	// browser sends them; CSP violations arrive as log entries.
	err := chromedp.Listen(ctx, func(ev any) {
		var entry consoleEntry
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeDocument {
				b.mu.Lock()
				b.documents[ev.Response.URL] = true
				b.mu.Unlock()
			}
			return
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			entry.line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			entry.line = "exception: " + ev.ExceptionDetails.Text
			if e := ev.ExceptionDetails.Exception; e != nil {
				entry.line += " " + e.Description
			}
		case *log.EventEntryAdded:
			e := ev.Entry
			entry = consoleEntry{line: fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL),
				source: string(e.Source), url: e.URL}
		default:
			return
		}
		b.mu.Lock()
		b.console = append(b.console, entry)
		b.mu.Unlock()
		select {
		case b.notify <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatalf("listen to the console: %v", err)
	}
	return b
}

// lockedBuffer collects Chromium's output, which it writes from another goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// do runs actions in the tab and fails the test, saying what it did, if one fails.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.where())
	}
}

// load runs actions that lead to a new page, waits until it has loaded, and
// returns the HTTP response of its document (the last one after redirects).
func (b *browser) load(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.where())
	}
	return resp
}

// open navigates to rawURL and checks the answer's status.
func (b *browser) open(rawURL string, status int64) {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(rawURL))
	if err != nil {
		b.t.Fatalf("open %s: %v%s", rawURL, err, b.where())
	}
	if resp.Status != status {
		b.t.Fatalf("open %s: status %d, want %d%s", rawURL, resp.Status, status, b.where())
	}
}

// text returns the visible text of the first element matching the CSS selector,
// waiting for it to be visible.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v%s", sel, err, b.where())
	}
	return s
}

// attr returns an attribute of the first element matching the CSS selector.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	r, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		b.t.Fatalf("attribute %s of %s: %v%s", name, sel, err, b.where())
	}
	return r.Value
}

// location returns the tab's URL.
func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return loc
}

// where describes the page the tab shows, for failure messages. It never fails.
func (b *browser) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	return fmt.Sprintf("\npage %s:\n%s\nconsole:\n  %s", loc, body, strings.Join(b.consoleLines(true), "\n  "))
}

// consoleLines returns what the pages wrote to the console so far. Unless all,
// it leaves out the failed loads that are no fault of a page: a page answered
// with an error status (a refused form is a 400, a dead link a 404; the tests
// check those statuses themselves) and the browser's own /favicon.ico request,
// which the demo app answers with a 404.
func (b *browser) consoleLines(all bool) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var lines []string
	for _, e := range b.console {
		if !all && e.source == "network" && strings.Contains(e.line, failedLoad) {
			if u, err := url.Parse(e.url); b.documents[e.url] || (err == nil && u.Path == "/favicon.ico") {
				continue
			}
		}
		lines = append(lines, e.line)
	}
	return lines
}

// waitConsole waits until a console line contains want.
func (b *browser) waitConsole(want string) {
	b.t.Helper()
	for {
		for _, line := range b.consoleLines(true) {
			if strings.Contains(line, want) {
				return
			}
		}
		select {
		case <-b.notify:
		case <-b.ctx.Done():
			b.t.Fatalf("no console line with %q: %v; the console has:\n  %s", want, b.ctx.Err(),
				strings.Join(b.consoleLines(true), "\n  "))
		}
	}
}

// checkResetForm checks that the reset page shows the account and the policy.
func (b *browser) checkResetForm(email string) {
	b.t.Helper()
	if got := b.text("h1"); got != "Change Your Password" {
		b.t.Errorf("title %q", got)
	}
	if got := b.text(`[data-testid="email"]`); got != email {
		b.t.Errorf("account %q, want %q", got, email)
	}
	rules := b.text("#rules")
	for _, want := range []string{
		"At least 8 characters",
		"At least 3 of the following 4 types of characters:",
		"Lower case letters (a-z)", "Upper case letters (A-Z)", "Numbers (0-9)", "Special characters (e.g. !@#$%^&*)",
	} {
		if !strings.Contains(rules, want) {
			b.t.Errorf("the page's rules lack %q:\n%s", want, rules)
		}
	}
	for _, sel := range []string{`label[for="newPassword"]`, `label[for="confirmNewPassword"]`} {
		if b.text(sel) == "" {
			b.t.Errorf("%s has no text", sel)
		}
	}
}

// submitPassword types password into both fields of the reset form, submits it
// and returns the response that ends the navigation.
func (b *browser) submitPassword(password string) *network.Response {
	b.t.Helper()
	b.do("type the new password",
		chromedp.WaitVisible(chromedp.ID("newPassword")),
		chromedp.SendKeys(chromedp.ID("newPassword"), password),
		chromedp.SendKeys(chromedp.ID("confirmNewPassword"), password),
	)
	return b.load("submit the reset form", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
}

// checkResult checks that the tab landed on the demo client's result URL
// (base/login) with Auth0's parameters, and that the app's login page shows the
// success banner.
func (b *browser) checkResult(resp *network.Response, email string) {
	b.t.Helper()
	b.checkResultAt(base, resp, email)
}

// checkResultAt is checkResult for a result URL at origin + "/login".
func (b *browser) checkResultAt(origin string, resp *network.Response, email string) {
	b.t.Helper()
	loc, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatal(err)
	}
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host != origin || loc.Path != "/login" || q.Get("success") != "true" ||
		q.Get("email") != email || q.Get("message") != resultMessage {
		b.t.Fatalf("the form did not land on the result URL: at %s (status %d)%s", loc, resp.Status, b.where())
	}
	if resp.Status != 200 {
		b.t.Errorf("result page status %d", resp.Status)
	}
	if got := b.text(`p.banner.ok[role="status"]`); got != resultMessage {
		b.t.Errorf("the login page's banner says %q", got)
	}
}

// checkNoConsole fails the test if a page wrote to the console.
func (b *browser) checkNoConsole() {
	b.t.Helper()
	if lines := b.consoleLines(false); len(lines) > 0 {
		b.t.Errorf("the pages wrote to the console:\n  %s", strings.Join(lines, "\n  "))
	}
}

// TestBrowserResetFlow: the mailed link opened in Chromium, the form filled and
// sent; the browser follows the redirect to the result URL (the page's CSP
// allows the POST and the redirect) and the app has the new password.
func TestBrowserResetFlow(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	b.open(link, 200)
	b.checkResetForm("alice@example.com")
	if got := b.attr("#newPassword", "autocomplete"); got != "new-password" {
		t.Errorf("new password field autocomplete=%q", got)
	}
	resp := b.submitPassword(newPassword)
	b.checkResult(resp, "alice@example.com")
	if !s.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the app's password did not change")
	}
	if n := s.app.PasswordChanges(); n != 1 {
		t.Errorf("%d password changes, want 1", n)
	}
	b.checkNoConsole()
}

// TestBrowserWeakPassword: a password the policy refuses shows the form again
// with the policy's error; the ticket survives, and a good password then works.
func TestBrowserWeakPassword(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	b.open(link, 200)
	resp := b.submitPassword("weak")
	if resp.Status != 400 {
		t.Errorf("weak password: status %d, want 400", resp.Status)
	}
	if loc := b.location(); loc != base+"/lo/reset" {
		t.Errorf("weak password: at %s, want the reset page", loc)
	}
	if got := b.text(`[data-testid="error"]`); !strings.Contains(got, "Password is too weak") {
		t.Errorf("error %q lacks the policy's message%s", got, b.where())
	}
	if got := b.attr("#newPassword", "aria-invalid"); got != "true" {
		t.Errorf("the new password field has aria-invalid=%q", got)
	}
	if got := b.attr("#newPassword", "aria-describedby"); !strings.Contains(got, "form-error") {
		t.Errorf("the new password field is not described by the error: aria-describedby=%q", got)
	}
	b.checkResetForm("alice@example.com")
	if s.app.PasswordChanges() != 0 || s.app.CheckPassword("alice@example.com", "weak") ||
		!s.app.CheckPassword("alice@example.com", "alice-old-password-1") {
		t.Fatal("a refused password reached the app")
	}
	resp = b.submitPassword(newPassword)
	b.checkResult(resp, "alice@example.com")
	if !s.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the app's password did not change")
	}
	b.checkNoConsole()
}

// TestBrowserForgotPage: from the app's login page through the plugin's forgot
// page to the mail, and the mailed link completed in the same browser.
func TestBrowserForgotPage(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "")
	b.open(base+"/login", 200)
	resp := b.load("follow the forgot link",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Forgot your password?"]`)))
	if resp.Status != 200 {
		t.Fatalf("forgot page: status %d%s", resp.Status, b.where())
	}
	loc, err := url.Parse(b.location())
	if err != nil {
		t.Fatal(err)
	}
	if loc.Path != "/lo/forgot" || loc.Query().Get("client_id") != "demo-app" {
		t.Fatalf("the forgot link led to %s", loc)
	}
	if got := b.text("h1"); got != "Forgot Your Password?" {
		t.Errorf("forgot page title %q", got)
	}
	after := s.box.LastID()
	b.do("type the email", chromedp.SendKeys(chromedp.ID("email"), "alice@example.com"))
	resp = b.load("submit the forgot form", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	if resp.Status != 200 {
		t.Errorf("forgot submit: status %d", resp.Status)
	}
	if got := b.text("h1"); got != "Check Your Email" {
		t.Fatalf("after the forgot form: %q%s", got, b.where())
	}
	if got := b.text(`[data-testid="message"]`); !strings.Contains(got, "alice@example.com") {
		t.Errorf("message %q does not name the address", got)
	}
	link := testenv.ResetLink(t, s.box.WaitMail(t, "alice@example.com", after))
	b.open(link, 200)
	b.checkResetForm("alice@example.com")
	resp = b.submitPassword(newPassword)
	b.checkResult(resp, "alice@example.com")
	if !s.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the app's password did not change")
	}
	b.checkNoConsole()
}

// TestBrowserPagesHaveNoConsoleErrors: the plugin's pages (reset form, forgot
// form, message page) load without a console message, so without a CSP
// violation. A probe that breaks the CSP on purpose shows that violations do
// reach the listener.
func TestBrowserPagesHaveNoConsoleErrors(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	b.open(link, 200)
	b.do("wait for the reset form", chromedp.WaitVisible(chromedp.ID("newPassword")))
	b.open(base+"/lo/forgot?"+url.Values{"client_id": {"demo-app"}, "connection": {conn}}.Encode(), 200)
	b.do("wait for the forgot form", chromedp.WaitVisible(chromedp.ID("email")))
	b.open(base+"/lo/reset?ticket=not-a-ticket", 404)
	b.do("wait for the message", chromedp.WaitVisible(chromedp.CSS(`[data-testid="message"]`)))
	b.checkNoConsole()

	// The probe: an image from data: breaks img-src 'self'.
	b.do("add an image the CSP forbids", chromedp.Evaluate[chromedp.Void](
		`document.body.appendChild(Object.assign(document.createElement("img"), {src: "data:image/gif;base64,R0lGODlhAQABAAAAACw="}))`))
	b.waitConsole("Content Security Policy")
	for _, line := range b.consoleLines(false) {
		if !strings.Contains(line, "img-src") {
			t.Errorf("console line other than the probe's: %s", line)
		}
	}
}

// TestBrowserResultOnAnotherOrigin: a client whose result URL is on another
// origin than the public URL. Chromium checks the reset page's form-action on
// the POST's redirect too, so the page's CSP must name that origin.
func TestBrowserResultOnAnotherOrigin(t *testing.T) {
	// The same Caddy site under another host name: another origin.
	const other = "http://127.0.0.1:9080"
	b := newBrowser(t)
	s := newStack(t, "\t\tclient other-app {\n\t\t\tname \"Other App\"\n\t\t\tresult_url "+other+"/login\n\t\t}")
	after := s.box.LastID()
	resp, text := s.do("POST", "/dbconnections/change_password", "application/json",
		`{"client_id":"other-app","email":"alice@example.com","connection":"`+conn+`"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("change_password: %d %q", resp.StatusCode, text)
	}
	link := testenv.ResetLink(t, s.box.WaitMail(t, "alice@example.com", after))
	b.open(link, 200)
	b.checkResetForm("alice@example.com")
	b.checkResultAt(other, b.submitPassword(newPassword), "alice@example.com")
	if !s.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the app's password did not change")
	}
	b.checkNoConsole()
}

// TestBrowserLinkFromAnotherSite follows the reset link the way a user does: a
// click in a mail client on another site. The ticket's cookie is SameSite=Strict,
// which a browser does not send on a navigation that started on another site,
// redirects included; the plugin moves on with a same-site meta refresh, so the
// form must appear. Afterwards no entry of the tab's history holds the ticket.
func TestBrowserLinkFromAnotherSite(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "")
	link := s.resetLink("alice@example.com")
	// 127.0.0.1 is another site than localhost, as a webmail would be.
	mailClient := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><title>Inbox</title><a id="link" href="%s">Choose a new password</a>`, html.EscapeString(link))
	}))
	t.Cleanup(mailClient.Close)
	b.open(mailClient.URL, 200)
	b.load("click the link in the mail", chromedp.Click(chromedp.ID("link")))
	b.checkResetForm("alice@example.com")
	if loc := b.location(); loc != base+"/lo/reset" {
		t.Errorf("the form is at %s, want %s/lo/reset with no query", loc, base)
	}
	history, err := chromedp.Run(b.ctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range history.Entries {
		if strings.Contains(e.URL, testenv.Ticket(t, link)) {
			t.Errorf("history entry %d of %d holds the ticket: %s", i, len(history.Entries), e.URL)
		}
	}
	resp := b.submitPassword(newPassword)
	b.checkResult(resp, "alice@example.com")
}
