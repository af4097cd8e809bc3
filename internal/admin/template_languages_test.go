package admin_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// TestTemplateLanguages: the "password changed" notice follows the
// language's variant saved by an admin, and the built-in email in the
// language while untouched; a template the Caddyfile seeds (not the
// built-in) is what languages without a variant of their own get.
func TestTemplateLanguages(t *testing.T) {
	langs, err := templates.NewLanguages([]string{"en", "fr", "de"}, "en", nil)
	if err != nil {
		t.Fatal(err)
	}
	fr, de := langs.Lookup("fr"), langs.Lookup("de")
	seeded, err := emailtemplates.Default(templates.ResetEmail, langs.Default())
	if err != nil {
		t.Fatal(err)
	}
	seeded.Subject = "Your {{ application.name }} link"
	h := newStack(t, func(_ *testenv.Stack, c *service.Config) {
		c.Site.Languages = langs
		c.Emails = map[string]emailtemplates.Template{templates.ResetEmail: seeded}
	})
	ctx := context.Background()

	in, err := h.Admin.GetTemplateIn(ctx, templates.ResetEmail, "fr")
	if err != nil || in.LanguageSource != admin.LanguageDefault || in.Subject != seeded.Subject {
		t.Errorf("fr of a seeded template: %+v, %v; want the seed's text", in, err)
	}
	if in, err := h.Admin.GetTemplateIn(ctx, templates.ResetEmail, ""); err != nil || in.LanguageSource != admin.LanguageOwn || in.Language != "en" {
		t.Errorf("the default language of a seeded template: %+v, %v", in, err)
	}

	// complete resets bob's password through an admin's ticket, from a
	// browser speaking acceptLanguage, and returns the notice's subject.
	passwords := []string{newPassword, "Another-Horse-7-battery", "Third-Horse-5-battery"}
	complete := func(acceptLanguage string) string {
		t.Helper()
		issued, err := h.Admin.CreateTicket(ctx, ops, admin.TicketRequest{UserID: "user-bob"})
		if err != nil {
			t.Fatal(err)
		}
		after := h.Box.LastID()
		pw := passwords[0]
		passwords = passwords[1:]
		if _, err := h.Flow.CompleteReset(ctx, reset.ResetForm{Ticket: testenv.Ticket(t, issued.URL), Password: pw, Confirm: pw,
			IP: "192.0.2.8", AcceptLanguage: acceptLanguage}); err != nil {
			t.Fatal(err)
		}
		return h.Box.WaitMail(t, "bob@example.com", after).Subject
	}
	builtIn, err := templates.DefaultEmail(templates.PasswordChanged, de)
	if err != nil {
		t.Fatal(err)
	}
	if got := complete("de-DE,de"); got != builtIn.Subject {
		t.Errorf("German notice, untouched: %q, want the built-in %q", got, builtIn.Subject)
	}

	subject := "Mot de passe changé le {{ changed_at }}"
	saved, err := h.Admin.SaveTemplateIn(ctx, ops, templates.PasswordChanged, "fr", admin.TemplatePatch{Subject: &subject}, false, "api")
	if err != nil || saved.LanguageSource != admin.LanguageOwn || saved.Version != 1 {
		t.Fatalf("save fr: %+v, %v", saved, err)
	}
	month := fr.T("month." + strconv.Itoa(int(h.Clock.Now().UTC().Month())))
	if got := complete("fr"); !strings.HasPrefix(got, "Mot de passe changé le ") || !strings.Contains(got, month) {
		t.Errorf("French notice with a variant: %q, want its subject with the date in French (%s)", got, month)
	}
	if got := complete("de"); got != builtIn.Subject {
		t.Errorf("German notice after the French variant: %q", got)
	}

	// The enabled languages only; the settings are the template's.
	if _, err := h.Admin.SaveTemplateIn(ctx, ops, templates.PasswordChanged, "es", admin.TemplatePatch{Subject: &subject}, false, "api"); err == nil ||
		!strings.Contains(err.Error(), "the enabled languages are en, fr, de") {
		t.Errorf("es: %v", err)
	}
	off := false
	if _, err := h.Admin.SaveTemplateIn(ctx, ops, templates.PasswordChanged, "fr", admin.TemplatePatch{Enabled: &off}, false, "api"); err == nil ||
		!strings.Contains(err.Error(), "enabled: the template's for every language") {
		t.Errorf("enabled in fr: %v", err)
	}
}
