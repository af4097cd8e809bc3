package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// englishSentences are the English catalog's texts cut at their placeholders,
// the pieces of three words or more: what a page in another language must not
// contain.
func englishSentences(t *testing.T) []string {
	t.Helper()
	raw, err := templates.CatalogFile("en")
	if err != nil {
		t.Fatal(err)
	}
	var texts map[string]json.RawMessage
	if err := json.Unmarshal(raw, &texts); err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(s string) {
		for _, piece := range regexp.MustCompile(`\{[a-z_]+\}`).Split(s, -1) {
			piece = strings.Trim(piece, " .,:;!?\"")
			if len(strings.Fields(piece)) >= 3 {
				out = append(out, piece)
			}
		}
	}
	for _, v := range texts {
		var s string
		if json.Unmarshal(v, &s) == nil {
			add(s)
			continue
		}
		var forms map[string]string
		if err := json.Unmarshal(v, &forms); err != nil {
			t.Fatal(err)
		}
		for _, s := range forms {
			add(s)
		}
	}
	return out
}

// visibleText is what a person reads on a page: its text and the values of
// its buttons, attributes aside.
func visibleText(page string) string {
	z := html.NewTokenizer(strings.NewReader(page))
	var b strings.Builder
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			b.Write(z.Text())
			b.WriteByte(' ')
		}
	}
}

var htmlLang = regexp.MustCompile(`<html lang="([^"]+)" dir="([^"]+)">`)

// langPage checks that a page is in lang (its lang and dir attributes) and
// holds no English sentence, and returns its visible text.
func langPage(t *testing.T, what, lang string, got fetched, english []string) string {
	t.Helper()
	m := htmlLang.FindStringSubmatch(got.body)
	if m == nil || m[1] != lang {
		t.Errorf("%s: want <html lang=%q>, got %q", what, lang, m)
	}
	wantDir := "ltr"
	if lang == "ar" || lang == "he" {
		wantDir = "rtl"
	}
	if m != nil && m[2] != wantDir {
		t.Errorf("%s: dir=%q, want %q", what, m[2], wantDir)
	}
	text := visibleText(got.body)
	if lang != "en" {
		for _, s := range english {
			if strings.Contains(text, s) {
				t.Errorf("%s in %s: English text %q on the page:\n%s", what, lang, s, text)
			}
		}
	}
	return text
}

// TestEveryPageInEveryLanguage walks each page a user can meet (the forgot
// page and its answers, the reset link's interstitial, the form, its refusals,
// the success page, an unusable link, the cancel page and its answer) in each
// shipped language, chosen by ui_locales or by Accept-Language, and checks the
// page's language and that no English sentence of the catalog is left on it.
func TestEveryPageInEveryLanguage(t *testing.T) {
	english := englishSentences(t)
	env := newPageEnv(t, policy.Policy{Level: policy.LevelFair, Dictionary: true, NoPersonalInfo: true, History: 3})
	for _, lang := range templates.Shipped {
		t.Run(lang, func(t *testing.T) {
			viaHeader := func(rawURL string, cookies ...*http.Cookie) fetched {
				req := newRequest(t, http.MethodGet, rawURL, "", "")
				req.Header.Set("Accept-Language", lang+";q=0.9, en;q=0.1")
				for _, c := range cookies {
					req.AddCookie(c)
				}
				return fetch(t, req)
			}
			// The forgot page, by ui_locales, and its answers: each form
			// carries the page's language on.
			page := env.get(t, env.url+PathForgot+"?client_id=demo-app&ui_locales="+lang)
			langPage(t, "forgot page", lang, page, english)
			csrf := page.cookie(t, "pwreset_csrf")
			fields := url.Values{"_csrf": {hiddenField(t, page.body, "_csrf")}, "client_id": {"demo-app"},
				"connection": {pageConn}, "ui_locales": {hiddenField(t, page.body, "ui_locales")}}
			fields.Set("email", "not-an-address")
			langPage(t, "forgot refused", lang, env.post(t, env.url+PathForgot, fields, csrf), english)
			fields.Set("email", "nobody@example.com")
			sent := env.post(t, env.url+PathForgot, fields, csrf)
			if text := langPage(t, "check your email", lang, sent, english); !strings.Contains(text, "nobody@example.com") {
				t.Errorf("check your email: the address is not on the page:\n%s", text)
			}
			fields.Set("_csrf", "stale")
			langPage(t, "forgot with a stale form", lang, env.post(t, env.url+PathForgot, fields, csrf), english)

			// The reset link of bob (the app gives no language for him), by
			// Accept-Language.
			issued, err := env.admin.CreateTicket(context.Background(), admin.Actor{Name: "test"},
				admin.TicketRequest{Email: "bob@example.com", ConnectionID: pageConn})
			if err != nil {
				t.Fatal(err)
			}
			moved := viaHeader(issued.URL)
			langPage(t, "link interstitial", lang, moved, english)
			ticket := moved.cookie(t, "pwreset_ticket")
			form := viaHeader(env.url+PathReset, ticket)
			text := langPage(t, "reset form", lang, form, english)
			cookies := []*http.Cookie{ticket, form.cookie(t, "pwreset_csrf")}
			submit := url.Values{"_csrf": {hiddenField(t, form.body, "_csrf")}, "ref": {hiddenField(t, form.body, "ref")},
				"ui_locales": {hiddenField(t, form.body, "ui_locales")}}
			if !strings.Contains(text, templates.AllLanguages().Lookup(lang).N("rule.lengthAtLeast", 8)) {
				t.Errorf("reset form: the length rule is not in %s:\n%s", lang, text)
			}
			submit.Set("newPassword", "Vivid-Quokka-4817")
			submit.Set("confirmNewPassword", "Vivid-Quokka-4816")
			langPage(t, "passwords differ", lang, env.post(t, env.url+PathReset, submit, cookies...), english)
			submit.Set("newPassword", "bob")
			submit.Set("confirmNewPassword", "bob")
			weak := env.post(t, env.url+PathReset, submit, cookies...)
			if weak.StatusCode != http.StatusBadRequest {
				t.Errorf("weak password: %d", weak.StatusCode)
			}
			langPage(t, "weak password", lang, weak, english)
			good := "Vivid-Quokka-4817-" + lang // bob's history refuses the other languages' ones
			submit.Set("newPassword", good)
			submit.Set("confirmNewPassword", good)
			done := env.post(t, env.url+PathReset, submit, cookies...)
			if done.StatusCode != http.StatusSeeOther {
				t.Fatalf("reset: %d\n%s", done.StatusCode, visibleText(done.body))
			}
			used := viaHeader(issued.URL)
			if used.StatusCode != http.StatusGone && used.StatusCode != http.StatusBadRequest {
				t.Errorf("used link: %d", used.StatusCode)
			}
			langPage(t, "used link", lang, used, english)

			// The cancel page of a fresh link, by its ui_locales as the email
			// gives it, and its answer.
			issued, err = env.admin.CreateTicket(context.Background(), admin.Actor{Name: "test"},
				admin.TicketRequest{Email: "bob@example.com", ConnectionID: pageConn})
			if err != nil {
				t.Fatal(err)
			}
			token := strings.TrimPrefix(issued.URL[strings.Index(issued.URL, "ticket="):], "ticket=")
			cancel := env.get(t, env.url+PathCancel+"?"+url.Values{"id": {tickets.Ref(token)}, "ui_locales": {lang}}.Encode())
			langPage(t, "cancel page", lang, cancel, english)
			cancelled := env.post(t, env.url+PathCancel, url.Values{"_csrf": {hiddenField(t, cancel.body, "_csrf")},
				"id": {hiddenField(t, cancel.body, "id")}, "ui_locales": {hiddenField(t, cancel.body, "ui_locales")}},
				cancel.cookie(t, "pwreset_csrf"))
			if cancelled.StatusCode != http.StatusOK {
				t.Errorf("cancel: %d", cancelled.StatusCode)
			}
			langPage(t, "cancelled", lang, cancelled, english)
		})
	}
}

// TestLanguageOrder: ui_locales beats the user's language from the app, which
// beats Accept-Language, which beats the default; unknown and malformed tags
// are passed over.
func TestLanguageOrder(t *testing.T) {
	env := newPageEnv(t, policy.Policy{Level: policy.LevelLow})
	page := func(query, accept string) string {
		req := newRequest(t, http.MethodGet, env.url+PathForgot+"?client_id=demo-app"+query, "", "")
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		got := fetch(t, req)
		m := htmlLang.FindStringSubmatch(got.body)
		if m == nil {
			t.Fatalf("no lang in %s", got.body)
		}
		return m[1]
	}
	for _, tt := range []struct{ query, accept, want string }{
		{"", "", "en"},
		{"", "de-CH, fr;q=0.5", "de"},
		{"", "xx-YY, fr;q=0.5", "fr"},
		{"", "pt", "pt-BR"},
		{"", "pt-PT", "pt-PT"},
		{"", "zh-HK", "zh-TW"},
		{"", "zh", "zh-CN"},
		{"", "nn", "nb"},
		{"", ";;;,,q=1", "en"},
		{"", strings.Repeat("x", 5000), "en"},
		{"&ui_locales=ja", "de", "ja"},
		{"&ui_locales=" + url.QueryEscape("xx ar"), "de", "ar"},
		{"&ui_locales=%25%25", "de", "de"},
	} {
		if got := page(tt.query, tt.accept); got != tt.want {
			t.Errorf("query %q, Accept-Language %.40q: %s, want %s", tt.query, tt.accept, got, tt.want)
		}
	}
}
