package handlers

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// The email templates per language, through the Management API and the
// dashboard, down to the mail a user of each language receives over SMTP.

// variantLanguages are the languages of these tests: English the default,
// French and German.
func variantLanguages(t *testing.T) *templates.Languages {
	t.Helper()
	langs, err := templates.NewLanguages([]string{"en", "fr", "de"}, "en", nil)
	if err != nil {
		t.Fatal(err)
	}
	return langs
}

func withLanguages(langs *templates.Languages) func(*service.Config) {
	return func(c *service.Config) { c.Site.Languages = langs }
}

// resetMailIn asks for a reset email for bob (whom the app gives no language
// of his own) from a browser that speaks lang, and returns the mail the SMTP
// server received.
func (a *adminEnv) resetMailIn(t *testing.T, lang string) (subject, body string) {
	t.Helper()
	after := a.Box.LastID()
	if _, err := a.Flow.RequestReset(context.Background(), reset.Request{Email: "bob@example.com", Connection: testenv.Conn,
		IP: "192.0.2.1", Language: lang, Admin: true}); err != nil {
		t.Fatal(err)
	}
	msg := a.Box.WaitResetMail(t, "bob@example.com", after)
	return msg.Subject, msg.Text + msg.HTML
}

// templateInLanguage is a template as GET ?language= answers it.
type templateInLanguage struct {
	templateJSON
	Text           string
	Language       string `json:"language"`
	LanguageSource string `json:"languageSource"`
}

// TestAPIEmailTemplateLanguages: GET with ?language= answers a language's
// text and where it comes from; PATCH and PUT with "language" save that
// language's variant, which is what the users of that language get by mail,
// while the others keep the built-in email in their language (template
// untouched) or the template's text (template edited); the settings are the
// template's for every language; versions and restore take ?language=; a bad
// variant or a language not enabled is refused and changes nothing.
func TestAPIEmailTemplateLanguages(t *testing.T) {
	langs := variantLanguages(t)
	fr, de := langs.Lookup("fr"), langs.Lookup("de")
	a := newAdminEnv(t, AdminConfig{}, withLanguages(langs))
	const p = "/api/v2/email-templates/reset_email"
	builtIn := func(lang *templates.Lang) templates.EmailSource {
		src, err := templates.DefaultEmail(templates.ResetEmail, lang)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	get := func(what, query string) templateInLanguage {
		t.Helper()
		var in templateInLanguage
		decodeOK(t, what, a.api(t, http.MethodGet, p+query, ""), http.StatusOK, &in)
		return in
	}

	// Without language: today's answer, with no language field.
	var plain map[string]any
	decodeOK(t, "GET without language", a.api(t, http.MethodGet, p, ""), http.StatusOK, &plain)
	if _, ok := plain["language"]; ok || plain["subject"] != builtIn(langs.Default()).Subject {
		t.Errorf("GET without language: %v", plain)
	}
	// Untouched: every language gets the built-in email in it.
	in := get("GET fr, untouched", "?language=fr")
	if in.Language != "fr" || in.LanguageSource != "built-in" || in.Subject != builtIn(fr).Subject || in.Body != builtIn(fr).HTML ||
		in.URLLifetimeInSeconds != 3600 || !in.Enabled || in.Syntax != "liquid" || in.Template != "reset_email" {
		t.Errorf("GET fr, untouched: %+v", in)
	}
	if en := get("GET en", "?language=en"); en.Language != "en" || en.LanguageSource != "built-in" || en.Subject != builtIn(langs.Default()).Subject {
		t.Errorf("GET en, untouched: %+v", en)
	}
	if got, _ := a.resetMailIn(t, "fr-FR,fr;q=0.9"); got != builtIn(fr).Subject {
		t.Errorf("French mail, untouched: %q, want the built-in %q", got, builtIn(fr).Subject)
	}

	// A French variant, from the text French users got: French mail is it.
	in = templateInLanguage{}
	decodeOK(t, "PATCH fr", a.api(t, http.MethodPatch, p, `{"language":"fr","subject":"Réinitialisez {{ application.name }}","syntax":"liquid","template":"reset_email"}`),
		http.StatusOK, &in)
	if in.Language != "fr" || in.LanguageSource != "own" || in.Subject != "Réinitialisez {{ application.name }}" || in.Body != builtIn(fr).HTML || in.URLLifetimeInSeconds != 3600 {
		t.Errorf("PATCH fr: %+v", in)
	}
	if got := get("GET fr", "?language=fr"); got.LanguageSource != "own" || got.Subject != in.Subject {
		t.Errorf("GET fr after the PATCH: %+v", got)
	}
	if got, _ := a.resetMailIn(t, "fr"); got != "Réinitialisez Demo App" {
		t.Errorf("French mail with a variant: %q", got)
	}
	if got, _ := a.resetMailIn(t, "de"); got != builtIn(de).Subject {
		t.Errorf("German mail, template untouched: %q, want the built-in German %q", got, builtIn(de).Subject)
	}
	if got, _ := a.resetMailIn(t, "en"); got != builtIn(langs.Default()).Subject {
		t.Errorf("English mail: %q, want the template's", got)
	}
	if !auditSays(t, a.Admin, "Email template reset_email in fr changed: version 1") {
		t.Error("no audit entry naming the language")
	}

	// The template edited (without language): German, which has no text of
	// its own, gets the template's; French keeps its own, with the new
	// lifetime.
	decodeOK(t, "PATCH the template", a.api(t, http.MethodPatch, p, `{"subject":"Reset at {{ application.name }}","urlLifetimeInSeconds":7200}`), http.StatusOK, &plain)
	if _, ok := plain["language"]; ok {
		t.Errorf("PATCH without language answers a language: %v", plain)
	}
	if got := get("GET de", "?language=de"); got.LanguageSource != "default-language" || got.Subject != "Reset at {{ application.name }}" {
		t.Errorf("GET de after the template was edited: %+v", got)
	}
	if got, text := a.resetMailIn(t, "de"); got != "Reset at Demo App" || !strings.Contains(text, de.Duration(2*time.Hour)) {
		t.Errorf("German mail after the template was edited: %q, want the template's text with the lifetime in German (%q)\n%s",
			got, de.Duration(2*time.Hour), text)
	}
	if got, text := a.resetMailIn(t, "fr"); got != "Réinitialisez Demo App" || !strings.Contains(text, fr.Duration(2*time.Hour)) {
		t.Errorf("French mail after the template was edited: %q, want its own with %q", got, fr.Duration(2*time.Hour))
	}
	if got := get("GET fr, settings", "?language=fr"); got.URLLifetimeInSeconds != 7200 {
		t.Errorf("fr's lifetime %d, want the template's 7200", got.URLLifetimeInSeconds)
	}

	// PUT replaces the variant's text; the template's versions are apart.
	in = templateInLanguage{}
	decodeOK(t, "PUT fr", a.api(t, http.MethodPut, p, `{"language":"fr","body":"<p>{{ url }}</p>","subject":"Nouveau"}`), http.StatusOK, &in)
	if in.Subject != "Nouveau" || in.Body != "<p>{{ url }}</p>" || in.Text != "" || in.LanguageSource != "own" {
		t.Errorf("PUT fr: %+v", in)
	}
	var frVersions []admin.VariantVersion
	decodeOK(t, "versions fr", a.api(t, http.MethodGet, p+"/versions?language=fr", ""), http.StatusOK, &frVersions)
	if len(frVersions) != 2 || frVersions[0].Version != 2 || frVersions[0].Language != "fr" || frVersions[0].Template.Subject != "Nouveau" ||
		frVersions[0].Author != adminTokenName || frVersions[1].Version != 1 {
		t.Errorf("fr's versions: %+v", frVersions)
	}
	var baseVersions []admin.TemplateVersion
	decodeOK(t, "versions", a.api(t, http.MethodGet, p+"/versions", ""), http.StatusOK, &baseVersions)
	if len(baseVersions) != 2 || baseVersions[0].Template.Subject != "Reset at {{ application.name }}" {
		t.Errorf("the template's versions: %+v", baseVersions)
	}
	var enVersions []admin.TemplateVersion
	decodeOK(t, "versions en", a.api(t, http.MethodGet, p+"/versions?language=en", ""), http.StatusOK, &enVersions)
	if len(enVersions) != len(baseVersions) {
		t.Errorf("the default language's versions are the template's: %+v", enVersions)
	}
	var deVersions []admin.VariantVersion
	decodeOK(t, "versions de", a.api(t, http.MethodGet, p+"/versions?language=de", ""), http.StatusOK, &deVersions)
	if deVersions == nil || len(deVersions) != 0 {
		t.Errorf("de's versions: %v, want []", deVersions)
	}

	// Restore a French version.
	var restored admin.VariantVersion
	decodeOK(t, "restore fr 1", a.api(t, http.MethodPost, p+"/versions/1/restore?language=fr", ""), http.StatusOK, &restored)
	if restored.Version != 3 || restored.RestoredFrom != 1 || restored.Source != "restore" || restored.Template.Subject != "Réinitialisez {{ application.name }}" {
		t.Errorf("restore fr 1: %+v", restored)
	}
	if !auditSays(t, a.Admin, "Email template reset_email in fr restored: version 3 is a copy of version 1") {
		t.Error("no audit entry of the restore naming the language")
	}
	if got, _ := a.resetMailIn(t, "fr"); got != "Réinitialisez Demo App" {
		t.Errorf("French mail after the restore: %q", got)
	}

	// Preview in a language: its text, its words for the lifetime.
	var preview admin.Preview
	decodeOK(t, "preview fr", a.api(t, http.MethodPost, p+"/preview", `{"language":"fr","body":"<p>{{ url_lifetime }}</p>"}`), http.StatusOK, &preview)
	if preview.Subject != "Réinitialisez Demo App" || !strings.Contains(preview.HTML, fr.Duration(2*time.Hour)) {
		t.Errorf("preview fr: %+v, want the lifetime as %q", preview, fr.Duration(2*time.Hour))
	}
	decodeOK(t, "preview de", a.api(t, http.MethodPost, p+"/preview", `{"language":"de"}`), http.StatusOK, &preview)
	if preview.Subject != "Reset at Demo App" {
		t.Errorf("preview de: %+v", preview)
	}

	// With language en (the default), every field: the template itself.
	decodeOK(t, "PATCH en", a.api(t, http.MethodPatch, p, `{"language":"en","subject":"Reset it","urlLifetimeInSeconds":3600}`), http.StatusOK, &in)
	if in.Language != "en" || in.LanguageSource != "own" || in.Subject != "Reset it" || in.URLLifetimeInSeconds != 3600 {
		t.Errorf("PATCH en: %+v", in)
	}
	if got := get("GET after PATCH en", ""); got.Subject != "Reset it" {
		t.Errorf("PATCH en did not change the template: %+v", got)
	}

	frBefore := get("fr before the refusals", "?language=fr")
	a.wantRefusals(t, []apiRefusal{
		{"fr from", "PATCH", p, "", `{"language":"fr","from":"fr@example.com"}`, 400, "invalid_body", "from: the template's for every language, not only fr"},
		{"fr settings", "PATCH", p, "", `{"language":"fr","urlLifetimeInSeconds":600,"enabled":false,"subject":"x"}`, 400, "invalid_body", "urlLifetimeInSeconds, enabled: the template's for every language"},
		{"fr resultUrl", "PUT", p, "", `{"language":"fr","body":"<p></p>","resultUrl":"https://app.example.com/"}`, 400, "invalid_body", `send it without language (or with language "en", the default`},
		{"fr syntax", "PATCH", p, "", `{"language":"fr","syntax":"handlebars"}`, 400, "invalid_body", "syntax: the template's for every language"},
		{"fr another template", "PATCH", p, "", `{"language":"fr","template":"password_changed"}`, 400, "invalid_body", `template is "password_changed"`},
		{"fr bad Liquid", "PATCH", p, "", `{"language":"fr","body":"<p>\n{% if %}</p>"}`, 400, "invalid_template", "The template was not saved: body, line 2"},
		{"fr unknown variable", "PATCH", p, "", `{"language":"fr","subject":"{{ nope }}"}`, 400, "invalid_template", "The template was not saved: subject"},
		{"fr PUT without body", "PUT", p, "", `{"language":"fr","subject":"x"}`, 400, "invalid_body", "Missing required property: body"},
		{"a language not enabled", "PATCH", p, "", `{"language":"es","subject":"x"}`, 400, "invalid_body", `language "es" is not enabled; the enabled languages are en, fr, de (the default: en)`},
		{"a malformed language", "PATCH", p, "", `{"language":"not a tag","subject":"x"}`, 400, "invalid_body", "is not enabled"},
		{"language a number", "PATCH", p, "", `{"language":7,"subject":"x"}`, 400, "invalid_body", `field "language" must be a string`},
		{"GET a language not enabled", "GET", p + "?language=es", "", "", 400, "invalid_query_string", "the enabled languages are en, fr, de"},
		{"GET two languages", "GET", p + "?language=fr&language=de", "", "", 400, "invalid_query_string", "appears more than once"},
		{"GET an empty language", "GET", p + "?language=", "", "", 400, "invalid_query_string", "language must be a language tag"},
		{"GET an unknown template in fr", "GET", "/api/v2/email-templates/nope?language=fr", "", "", 404, "inexistent_email_template", ""},
		{"versions of a language not enabled", "GET", p + "/versions?language=es", "", "", 400, "invalid_query_string", "not enabled"},
		{"restore a missing fr version", "POST", p + "/versions/9/restore?language=fr", "", "", 404, "inexistent_version", "in fr has no version 9"},
		{"restore in a language not enabled", "POST", p + "/versions/1/restore?language=es", "", "", 400, "invalid_query_string", "not enabled"},
		{"preview fr with a setting", "POST", p + "/preview", "", `{"language":"fr","from":"x@example.com"}`, 400, "invalid_body", "the template's for every language"},
		{"preview in a language not enabled", "POST", p + "/preview", "", `{"language":"es"}`, 400, "invalid_body", "not enabled"},
		{"create with a language", "POST", "/api/v2/email-templates", "", `{"template":"reset_email","body":"<p></p>","language":"fr"}`, 400, "invalid_body", "Additional properties not allowed: language"},
	})
	if after := get("fr after the refusals", "?language=fr"); after != frBefore {
		t.Errorf("a refusal changed fr: %+v, was %+v", after, frBefore)
	}
	decodeOK(t, "versions fr after the refusals", a.api(t, http.MethodGet, p+"/versions?language=fr", ""), http.StatusOK, &frVersions)
	if len(frVersions) != 3 {
		t.Errorf("fr's versions after the refusals: %d, want 3", len(frVersions))
	}
}

// auditSays reports whether an audit entry's description is desc.
func auditSays(t *testing.T, a *admin.Service, desc string) bool {
	t.Helper()
	entries, _, err := a.AuditLog(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Description == desc {
			return true
		}
	}
	return false
}

// TestDashboardTemplateLanguages: the template editor's picker lists the
// enabled languages by their own names; in French it loads the French text,
// without the settings (the template's), previews in French (the lifetime in
// French words) and saves the French variant, which French users then get
// by mail; settings, bad Liquid and a language not enabled are refused.
func TestDashboardTemplateLanguages(t *testing.T) {
	langs := variantLanguages(t)
	fr := langs.Lookup("fr")
	a := serveAdmin(t, testenv.NewStack(t, withLanguages(langs)), AdminConfig{})
	session := a.signIn(t, firefox, adminSecret)
	get := func(path string) fetched { return a.browse(t, firefox, path, nil, session) }
	page := get("/admin/templates/reset_email")
	wantPage(t, "the editor", page, http.StatusOK, `<select id="language" name="language"`, `id="from"`)
	for _, tag := range langs.Enabled() {
		lang := langs.Lookup(tag)
		opt := `<option value="` + tag + `" lang="` + tag + `"`
		if tag == "en" {
			opt += " selected"
		}
		if !strings.Contains(page.body, opt+">"+html.EscapeString(lang.Name())+"</option>") {
			t.Errorf("the picker has no %s option named %q", tag, lang.Name())
		}
	}
	if strings.Contains(page.body, `value="es"`) {
		t.Error("the picker lists a language that is not enabled")
	}
	csrf := hiddenField(t, page.body, "_csrf")

	frPage := get("/admin/templates/reset_email?language=fr")
	builtIn, err := templates.DefaultEmail(templates.ResetEmail, fr)
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, "the editor in French", frPage, http.StatusOK, `<option value="fr" lang="fr" selected>`,
		`name="language" value="fr"`, "has no text of its own: its users get the built-in email in "+html.EscapeString(fr.Name()),
		html.EscapeString(builtIn.Subject))
	if strings.Contains(frPage.body, `id="from"`) || strings.Contains(frPage.body, `name="url_lifetime"`) {
		t.Error("the French editor has the template's settings as fields")
	}

	post := func(path string, fields ...string) fetched {
		return a.browse(t, firefox, path, withFields(url.Values{"_csrf": {csrf}}, fields...), session)
	}
	french := []string{"language", "fr", "subject", "Bonjour {{ user.name }}, {{ url_lifetime }}", "body", "<p>{{ url }} ({{ url_lifetime }})</p>", "text", ""}
	with := func(more ...string) []string { return append(append([]string(nil), french...), more...) }

	prev := post("/admin/templates/reset_email", with("action", "preview")...)
	wantPage(t, "preview in French", prev, http.StatusOK, `data-testid="preview-subject" lang="fr" dir="auto">Bonjour Jane Doe, `+html.EscapeString(fr.Duration(time.Hour))+"<")
	if vs, _ := a.Admin.TemplateVersionsIn(context.Background(), "reset_email", "fr"); len(vs) != 0 {
		t.Errorf("the preview stored a version: %+v", vs)
	}
	m := regexp.MustCompile(`src="(/admin/templates/reset_email/preview/[a-z0-9]+)"`).FindStringSubmatch(prev.body)
	if m == nil {
		t.Fatalf("no preview frame\n%s", prev.body)
	}
	if frame := get(m[1]); !strings.Contains(frame.body, html.EscapeString(fr.Duration(time.Hour))) {
		t.Errorf("the preview frame has no French lifetime:\n%s", frame.body)
	}

	saved := post("/admin/templates/reset_email", with("action", "save")...)
	wantPage(t, "save in French", saved, http.StatusOK, "Saved as version 1 of the "+html.EscapeString(fr.Name())+" text.",
		`data-testid="preview-subject" lang="fr" dir="auto">Bonjour Jane Doe`, html.EscapeString(fr.Name())+" has its own text")
	in, err := a.Admin.GetTemplateIn(context.Background(), "reset_email", "fr")
	if err != nil || in.LanguageSource != admin.LanguageOwn || in.Subject != "Bonjour {{ user.name }}, {{ url_lifetime }}" {
		t.Errorf("the French text after the save: %+v, %v", in, err)
	}
	if subject, _ := a.resetMailIn(t, "fr"); subject != "Bonjour Bob, "+fr.Duration(time.Hour) {
		t.Errorf("French mail after the dashboard's save: %q", subject)
	}
	if subject, _ := a.resetMailIn(t, "en"); strings.Contains(subject, "Bonjour") {
		t.Errorf("English mail got the French text: %q", subject)
	}
	if en := get("/admin/templates/reset_email"); strings.Contains(en.body, "Bonjour") {
		t.Error("the English editor shows the French text")
	}

	// A second save, then restore version 1, in French.
	if got := post("/admin/templates/reset_email", with("action", "save", "subject", "Deux")...); got.StatusCode != http.StatusOK {
		t.Fatalf("second save: %d\n%s", got.StatusCode, got.body)
	}
	history := get("/admin/templates/reset_email?language=fr")
	wantPage(t, "the French history", history, http.StatusOK, `<input type="hidden" name="language" value="fr"><input type="hidden" name="version" value="1">`)
	wantPage(t, "restore in French", post("/admin/templates/reset_email/restore", "language", "fr", "version", "1"), http.StatusOK,
		"Version 1 restored as version 3.")
	if in, _ := a.Admin.GetTemplateIn(context.Background(), "reset_email", "fr"); in.Subject != "Bonjour {{ user.name }}, {{ url_lifetime }}" {
		t.Errorf("French after the restore: %+v", in)
	}

	for _, tt := range []struct {
		name   string
		fields []string
		status int
		text   string
	}{
		{"a setting in French", with("action", "save", "url_lifetime", "600"), 400, "are the template&#39;s for every language: change them in English."},
		{"bad Liquid in French", with("action", "save", "body", "<p>\n{% if %}</p>"), 400, "The template was not saved: body, line 2"},
		{"a language not enabled", with("action", "save", "language", "es"), 400, "language &#34;es&#34; is not enabled"},
	} {
		wantPage(t, tt.name, post("/admin/templates/reset_email", tt.fields...), tt.status, tt.text)
	}
	stale := a.browse(t, firefox, "/admin/templates/reset_email", withFields(url.Values{"_csrf": {strings.Repeat("H", 26)}}, with("action", "save")...), session)
	wantPage(t, "a stale form in French", stale, http.StatusForbidden, "security token is missing or stale")
	if vs, _ := a.Admin.TemplateVersionsIn(context.Background(), "reset_email", "fr"); len(vs) != 3 {
		t.Errorf("French versions after the refusals: %d, want 3", len(vs))
	}
	wantPage(t, "the editor in a language not enabled", get("/admin/templates/reset_email?language=es"), http.StatusBadRequest, "is not enabled")
}
