package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdminDashboard: an admin signs in to the dashboard in Chromium,
// finds a demo user, changes the password and sees the audit entry; edits the
// change-password email, sees the preview change, saves it, sends a reset email
// from the Users page and finds the new subject in the mail the SMTP server
// received; creates a reset link. No page writes to the console (so no CSP
// violation). With DASHBOARD_SCREENSHOTS set to a directory, screenshots of the
// Users and Templates pages are written there (the README's docs/*.png).
func TestBrowserAdminDashboard(t *testing.T) {
	b := newBrowser(t)
	as := newAdminStack(t, "")

	b.open(adminBase+"/admin/", 200) // redirected to the sign-in page
	if loc := b.location(); loc != adminBase+"/admin/login" {
		t.Fatalf("signed out, at %s", loc)
	}
	b.do("type the token", chromedp.SendKeys(chromedp.ID("token"), adminToken))
	b.load("sign in", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	if got := b.text(`[data-testid="actor"]`); got != "ops" {
		t.Fatalf("signed in as %q%s", got, b.where())
	}

	findAlice := func() {
		t.Helper()
		b.do("type alice's email", chromedp.SendKeys(chromedp.ID("email"), "alice@example.com"))
		b.load("find the user", chromedp.Click(chromedp.Search(`//button[normalize-space()="Find user"]`)))
		if got := b.text(`[data-testid="user-id"]`); got != "user-alice" {
			t.Fatalf("found %q%s", got, b.where())
		}
	}
	b.open(adminBase+"/admin/users", 200)
	findAlice()
	if got := b.text(`[data-testid="user-connection"]`); got != conn {
		t.Errorf("connection %q", got)
	}
	if got := b.text("#pw-warning"); !strings.Contains(got, "not alerted") {
		t.Errorf("no warning that the user is not alerted: %q", got)
	}
	if rules := b.text("#pw-rules"); !strings.Contains(rules, "At least 8 characters") {
		t.Errorf("the policy is not shown: %q", rules)
	}
	b.screenshot("dashboard.png")
	b.do("type the new password",
		chromedp.SendKeys(chromedp.ID("newPassword"), newPassword),
		chromedp.SendKeys(chromedp.ID("confirmNewPassword"), newPassword))
	b.load("change the password", chromedp.Click(chromedp.Search(`//button[normalize-space()="Change password"]`)))
	if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "was changed") {
		t.Fatalf("flash %q%s", got, b.where())
	}
	if !as.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the app's password did not change")
	}

	b.load("open the audit log", chromedp.Click(chromedp.Search(`//nav//a[normalize-space()="Audit log"]`)))
	if row := b.text(`tr[data-type="admin_password"]`); !strings.Contains(row, "alice@example.com") || !strings.Contains(row, "ops") {
		t.Errorf("audit row %q", row)
	}

	b.load("open the templates", chromedp.Click(chromedp.Search(`//nav//a[normalize-space()="Emails › Templates"]`)))
	b.do("edit the subject", chromedp.SetValue(chromedp.ID("subject"), "Dashboard: {{ user.name }}, reset your password"))
	b.load("preview", chromedp.Click(chromedp.Search(`//button[normalize-space()="Preview"]`)))
	if got := b.text(`[data-testid="preview-subject"]`); got != "Dashboard: Jane Doe, reset your password" {
		t.Errorf("preview subject %q%s", got, b.where())
	}
	if got := b.attr(`[data-testid="preview-frame"]`, "src"); !strings.HasPrefix(got, "/admin/templates/reset_email/preview/") {
		t.Errorf("preview frame src %q", got)
	}
	b.screenshot("dashboard-templates.png")
	if got := b.attr("#subject", "value"); !strings.HasPrefix(got, "Dashboard:") {
		t.Errorf("the draft was not kept in the form: %q", got)
	}
	b.load("save", chromedp.Click(chromedp.Search(`//button[normalize-space()="Save"]`)))
	if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "Saved as version 2") {
		t.Errorf("flash %q%s", got, b.where())
	}

	b.load("back to users", chromedp.Click(chromedp.Search(`//nav//a[normalize-space()="Users"]`)))
	findAlice()
	after := as.box.LastID()
	b.load("send a reset email", chromedp.Click(chromedp.Search(`//button[normalize-space()="Send reset email"]`)))
	if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "on its way") {
		t.Errorf("flash %q", got)
	}
	msg := as.box.WaitMail(t, "alice@example.com", after)
	if msg.Subject != "Dashboard: Alice Liddell, reset your password" {
		t.Errorf("mail subject %q", msg.Subject)
	}

	b.load("create a reset link", chromedp.Click(chromedp.Search(`//button[normalize-space()="Create reset link"]`)))
	if got := b.attr(`[data-testid="ticket-url"]`, "value"); !strings.HasPrefix(got, base+"/lo/reset?ticket=") {
		t.Errorf("reset link %q%s", got, b.where())
	}
	if got := b.text(`[data-testid="ticket-lifetime"]`); got != "1 hour" {
		t.Errorf("lifetime %q", got)
	}
	b.do("copy the link", chromedp.Click(chromedp.Search(`//button[normalize-space()="Copy"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Copied"]`)))

	b.load("open the outbox", chromedp.Click(chromedp.Search(`//nav//a[normalize-space()="Outbox"]`)))
	if row := b.text(`tr[data-state]`); !strings.Contains(row, "a***@example.com") {
		t.Errorf("outbox row %q", row)
	}
	b.noWordBrokenAt(900)
	b.checkNoConsole()
}

// noWordBrokenAt lays the page out width pixels wide and fails if a table
// header or a state badge breaks inside a word ("Atte|mpts"): a cell of n words
// takes at most n lines.
func (b *browser) noWordBrokenAt(width int64) {
	b.t.Helper()
	b.do("narrow the viewport", chromedp.EmulateViewport(width, 800))
	// A header whose only words are for screen readers (.sr, one pixel wide)
	// is not laid out for the eye.
	broken, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("th, .badge")].filter(el => !el.querySelector(".sr")).filter(el => {
		const words = el.textContent.trim().split(/\s+/).filter(Boolean).length;
		const r = document.createRange();
		r.selectNodeContents(el);
		const lines = new Set([...r.getClientRects()].map(q => Math.round(q.top))).size;
		return words > 0 && lines > words;
	}).map(el => el.textContent.trim())`))
	if err != nil {
		b.t.Fatal(err)
	}
	if len(broken) > 0 {
		b.t.Errorf("at %dpx these break inside a word: %q", width, broken)
	}
}

// screenshot writes the whole page to name in $DASHBOARD_SCREENSHOTS, if set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	b.do("size the viewport", chromedp.EmulateViewport(1280, 1000))
	b.writeScreenshot(name, chromedp.FullScreenshot(100))
}

// viewportScreenshot writes what the 1280x1000 viewport shows to name in
// $DASHBOARD_SCREENSHOTS, if set. Chromium's full-page capture starts at the
// left edge of the document and so shifts a right-to-left page: a page that
// fits the viewport is captured as shown.
func (b *browser) viewportScreenshot(name string) {
	b.t.Helper()
	b.writeScreenshot(name, chromedp.CaptureScreenshot())
}

func (b *browser) writeScreenshot(name string, capture chromedp.Action[[]byte]) {
	b.t.Helper()
	dir := os.Getenv("DASHBOARD_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, capture)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
