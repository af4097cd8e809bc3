package reset_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/demoapp"
	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// multilingualUsers are the demo app's users with a language each, and one
// without.
func multilingualUsers() []demoapp.SeedUser {
	user := func(id, email, lang string) demoapp.SeedUser {
		return demoapp.SeedUser{User: hook.User{UserID: id, Email: email, EmailVerified: true, Name: id, Language: lang},
			Password: "old-password-" + id}
	}
	return []demoapp.SeedUser{
		user("dieter", "dieter@example.com", "de-AT"),
		user("ola", "ola@example.com", "pl"),
		user("nolang", "nolang@example.com", ""),
	}
}

// lifetime seeds the reset email with a link lifetime, its text left the
// built-in one.
func lifetime(d time.Duration) option {
	return func(c *service.Config) {
		t, err := emailtemplates.Default(templates.ResetEmail, nil)
		if err != nil {
			panic(err)
		}
		t.URLLifetimeInSeconds = int(d / time.Second)
		c.Emails = map[string]emailtemplates.Template{templates.ResetEmail: t}
	}
}

func (h *harness) mailIn(t *testing.T, req reset.Request) (subject, text, html string) {
	t.Helper()
	after := h.Box.LastID()
	req.ClientID, req.Connection = "demo-app", conn
	if _, err := h.Flow.RequestReset(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	msg := h.Box.WaitResetMail(t, req.Email, after)
	return msg.Subject, msg.Text, msg.HTML
}

// TestMailInTheUsersLanguage: the app's language for the user beats the
// requester's Accept-Language; ui_locales beats both; without either the
// requester's Accept-Language is used. The lifetime is said with the
// language's plural.
func TestMailInTheUsersLanguage(t *testing.T) {
	h := newHarnessWithApp(t, testenv.StartAppWithUsers(t, multilingualUsers()), "", lifetime(time.Hour))
	de := templates.AllLanguages().Lookup("de")
	subject, text, html := h.mailIn(t, reset.Request{Email: "dieter@example.com", Language: "fr-FR,fr;q=0.9"})
	if subject != de.T("email.reset.subject") || !strings.Contains(text, " 1 Stunde ") {
		t.Errorf("German user: subject %q, text:\n%s", subject, text)
	}
	if !strings.Contains(html, `<html lang="de" dir="ltr">`) {
		t.Errorf("German user's HTML is not marked German:\n%.300s", html)
	}
	fr := templates.AllLanguages().Lookup("fr")
	if subject, _, _ := h.mailIn(t, reset.Request{Email: "dieter@example.com", UILocales: "fr"}); subject != fr.T("email.reset.subject") {
		t.Errorf("ui_locales fr: subject %q", subject)
	}
	if subject, _, _ := h.mailIn(t, reset.Request{Email: "nolang@example.com", Language: "xx, ja;q=0.8"}); subject != templates.AllLanguages().Lookup("ja").T("email.reset.subject") {
		t.Errorf("Accept-Language ja: subject %q", subject)
	}
	if subject, _, _ := h.mailIn(t, reset.Request{Email: "nolang@example.com"}); subject != "Reset your password" {
		t.Errorf("no language: subject %q", subject)
	}
}

// TestMailLifetimePlurals: German says 2 hours in its plural, Polish uses
// its "few" form for 2 and its "many" form for 5.
func TestMailLifetimePlurals(t *testing.T) {
	for _, tt := range []struct {
		email string
		d     time.Duration
		want  string
	}{
		{"dieter@example.com", 2 * time.Hour, "2 Stunden"},
		{"ola@example.com", 2 * time.Hour, "2 godziny"},
		{"ola@example.com", 5 * time.Hour, "5 godzin"},
	} {
		h := newHarnessWithApp(t, testenv.StartAppWithUsers(t, multilingualUsers()), "", lifetime(tt.d))
		_, text, html := h.mailIn(t, reset.Request{Email: tt.email})
		if !strings.Contains(text, tt.want) || !strings.Contains(html, tt.want) {
			t.Errorf("%s, %v: want %q in the mail:\n%s", tt.email, tt.d, tt.want, text)
		}
	}
}

// TestNoticeInTheFormsLanguage: the "password changed" notice is written in
// the language the form was shown in, with the date in its format.
func TestNoticeInTheFormsLanguage(t *testing.T) {
	h := newHarnessWithApp(t, testenv.StartAppWithUsers(t, multilingualUsers()), "")
	after := h.Box.LastID()
	ticket := h.request(t, "nolang@example.com", "nolang@example.com")
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword,
		Confirm: newPassword, UILocales: "es"}); err != nil {
		t.Fatal(err)
	}
	es := templates.AllLanguages().Lookup("es")
	msg := h.Box.WaitMail(t, "nolang@example.com", after+1)
	month := es.T("month." + strings.TrimLeft(h.Clock.Now().UTC().Format("01"), "0"))
	if msg.Subject != es.T("email.changed.subject") || !strings.Contains(msg.Text, month) {
		t.Errorf("notice: subject %q, want %q and the month %q in:\n%s", msg.Subject, es.T("email.changed.subject"), month, msg.Text)
	}
}
