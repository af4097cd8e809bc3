package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

var pageLang = regexp.MustCompile(`<html lang="([^"]+)" dir="([^"]+)">`)

// TestLanguagesAndTextsThroughCaddy: the Caddyfile's languages and
// default_language choose what pages speak, and its texts file replaces one
// text in one language and leaves the others.
func TestLanguagesAndTextsThroughCaddy(t *testing.T) {
	texts := writeTexts(t, `{
		"de": {"page.footer": "Hilfe? Schreiben Sie an help@example.com."},
		"en": {"forgot.intro": "Tell us the address of your account."}
	}`)
	s := newStack(t, "\t\tlanguages de en fr\n\t\tdefault_language de\n\t\ttexts "+texts)
	page := func(accept string) (lang, body string) {
		t.Helper()
		header := []string{}
		if accept != "" {
			header = append(header, "Accept-Language", accept)
		}
		resp, body := s.do("GET", "/lo/forgot?client_id=demo-app", "", "", header...)
		if resp.StatusCode != 200 {
			t.Fatalf("forgot page: %d", resp.StatusCode)
		}
		m := pageLang.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no lang in %s", body)
		}
		return m[1], body
	}
	de := templates.AllLanguages().Lookup("de")
	if lang, body := page(""); lang != "de" || !strings.Contains(body, "Hilfe? Schreiben Sie an help@example.com.") ||
		!strings.Contains(body, de.T("forgot.intro")) {
		t.Errorf("no preference: %s, want German with the footer:\n%s", lang, body)
	}
	if lang, _ := page("ja, zh;q=0.9"); lang != "de" {
		t.Errorf("a language not enabled: %s, want the default de", lang)
	}
	lang, body := page("en-GB")
	if lang != "en" || !strings.Contains(body, "Tell us the address of your account.") || strings.Contains(body, "footer") {
		t.Errorf("English: %s, want the replaced intro and no footer:\n%s", lang, body)
	}
	if lang, body := page("fr"); lang != "fr" || !strings.Contains(body, templates.AllLanguages().Lookup("fr").T("forgot.intro")) {
		t.Errorf("French: %s\n%s", lang, body)
	}
}
