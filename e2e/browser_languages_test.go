package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// checkLanguage checks that the page in the tab is in lang, with its
// direction, as the browser lays it out.
func (b *browser) checkLanguage(lang, dir string) {
	b.t.Helper()
	b.do("wait for the page", chromedp.WaitVisible(chromedp.CSS("main")))
	if got := b.attr("html", "lang"); got != lang {
		b.t.Errorf("<html lang=%q>, want %q%s", got, lang, b.where())
	}
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main")).direction`))
	if err != nil {
		b.t.Fatal(err)
	}
	if got != dir {
		b.t.Errorf("the page's direction is %q, want %q", got, dir)
	}
}

// labelsAtTheStart checks where the reset form's label's words sit: at the
// right edge of its field in a right-to-left page, at the left edge otherwise.
func (b *browser) labelsAtTheStart(dir string) {
	b.t.Helper()
	edges, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]float64](`(() => {
		const text = document.createRange(); // the label's words, not its block
		text.selectNodeContents(document.querySelector('label[for="newPassword"]'));
		const l = text.getBoundingClientRect();
		const f = document.getElementById("newPassword").getBoundingClientRect();
		return [l.left - f.left, f.right - l.right];
	})()`))
	if err != nil {
		b.t.Fatal(err)
	}
	fromLeft, fromRight := edges[0], edges[1]
	if dir == "rtl" && (fromRight > 2 || fromLeft < 20) || dir == "ltr" && (fromLeft > 2 || fromRight < 20) {
		b.t.Errorf("%s page: the label is %.0fpx from the field's left edge and %.0fpx from its right", dir, fromLeft, fromRight)
	}
}

// TestBrowserResetInFrench: a browser asking for French (Accept-Language)
// gets the forgot page, the answer, the mail, the reset form, the policy's
// refusal and the "password changed" notice in French.
func TestBrowserResetInFrench(t *testing.T) {
	fr := templates.AllLanguages().Lookup("fr")
	b := newBrowser(t, chromedp.Flag("lang", "fr-FR"), chromedp.Flag("accept-lang", "fr-FR,fr"))
	s := newStack(t, "")
	b.do("size the viewport", chromedp.EmulateViewport(1280, 1000)) // before the layout: see screenshot
	b.open(base+"/lo/forgot?client_id=demo-app", 200)
	b.checkLanguage("fr", "ltr")
	if got := b.text("h1"); got != fr.T("forgot.title") {
		t.Errorf("forgot page title %q, want %q", got, fr.T("forgot.title"))
	}
	after := s.box.LastID()
	b.do("type the email", chromedp.SendKeys(chromedp.ID("email"), "bob@example.com"))
	b.load("submit the forgot form", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	if got := b.text("h1"); got != fr.T("forgot.sent_title") {
		t.Fatalf("after the forgot form: %q%s", got, b.where())
	}
	msg := s.box.WaitResetMail(t, "bob@example.com", after)
	if msg.Subject != fr.T("email.reset.subject") || !strings.Contains(msg.Text, fr.Duration(time.Hour)) {
		t.Errorf("mail: subject %q, text:\n%s", msg.Subject, msg.Text)
	}
	b.open(testenv.ResetLink(t, msg), 200)
	b.checkLanguage("fr", "ltr")
	if got := b.text("h1"); got != fr.T("reset.title") {
		t.Errorf("reset form title %q", got)
	}
	if rules := b.text("#rules"); !strings.Contains(rules, fr.T("reset.rules_heading")) || !strings.Contains(rules, fr.N("rule.lengthAtLeast", 8)) {
		t.Errorf("the rules are not in French:\n%s", rules)
	}
	b.labelsAtTheStart("ltr")
	resp := b.submitPassword("faible")
	if resp.Status != 400 {
		t.Errorf("weak password: status %d", resp.Status)
	}
	if got := b.text(`[data-testid="error"]`); got != fr.T("form.PasswordStrengthError") {
		t.Errorf("error %q, want %q", got, fr.T("form.PasswordStrengthError"))
	}
	b.do("type a password that meets some rules", chromedp.SendKeys(chromedp.ID("newPassword"), "abcdefgh"))
	b.viewportScreenshot("reset-fr.png")
	b.open(base+"/lo/reset", 200) // the form again, empty
	after = s.box.LastID()
	b.checkResult(b.submitPassword(newPassword), "bob@example.com")
	notice := s.box.WaitMail(t, "bob@example.com", after)
	if notice.Subject != fr.T("email.changed.subject") {
		t.Errorf("notice subject %q, want %q", notice.Subject, fr.T("email.changed.subject"))
	}
	b.checkNoConsole()
}

// TestBrowserResetInArabic: ui_locales=ar on the forgot link, in a browser
// that asks for English: the pages are Arabic and right to left, the mail is
// Arabic, and the reset form, opened from it, stays Arabic.
func TestBrowserResetInArabic(t *testing.T) {
	ar := templates.AllLanguages().Lookup("ar")
	b := newBrowser(t, chromedp.Flag("accept-lang", "en-US,en"))
	s := newStack(t, "")
	// Sized before the first layout: a right-to-left page laid out in a
	// smaller window stays anchored to the right when the window grows.
	b.do("size the viewport", chromedp.EmulateViewport(1280, 1000))
	b.open(base+"/lo/forgot?client_id=demo-app&ui_locales=ar", 200)
	b.checkLanguage("ar", "rtl")
	after := s.box.LastID()
	b.do("type the email", chromedp.SendKeys(chromedp.ID("email"), "bob@example.com"))
	b.load("submit the forgot form", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	if got := b.text("h1"); got != ar.T("forgot.sent_title") {
		t.Fatalf("after the forgot form: %q%s", got, b.where())
	}
	msg := s.box.WaitResetMail(t, "bob@example.com", after)
	if msg.Subject != ar.T("email.reset.subject") || !strings.Contains(msg.HTML, `dir="rtl"`) {
		t.Errorf("mail: subject %q, HTML:\n%.400s", msg.Subject, msg.HTML)
	}
	b.open(testenv.ResetLink(t, msg), 200)
	b.checkLanguage("ar", "rtl")
	if got := b.text("h1"); got != ar.T("reset.title") {
		t.Errorf("reset form title %q", got)
	}
	b.labelsAtTheStart("rtl")
	b.do("type a password that meets some rules", chromedp.SendKeys(chromedp.ID("newPassword"), "abcdefgh"))
	state, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#rules .rule.met > .rule-state").textContent`))
	if err != nil {
		t.Fatalf("no rule marked met: %v%s", err, b.where())
	}
	if got := state; got != ": "+ar.T("reset.rule_met") {
		t.Errorf("a met rule reads %q to a screen reader", got)
	}
	b.viewportScreenshot("reset-ar.png")
	b.open(base+"/lo/reset", 200) // the form again, empty
	b.checkResult(b.submitPassword(newPassword), "bob@example.com")
	b.checkNoConsole()
}
