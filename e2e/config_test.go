package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// adapt runs the Caddyfile adapter, as `caddy adapt` does.
func adapt(t *testing.T, caddyfile string) ([]byte, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	return out, err
}

// minimal is a valid global block; tests replace or add lines.
const minimal = `{
	admin localhost:2999
	http_port 9080
	password_reset {
		public_url http://localhost:9080
		storage badger %DIR%
		smtp 127.0.0.1:2525
		connection Username-Password-Authentication {
			upstream http://127.0.0.1:9999 {
				secret 0123456789abcdef0123
			}
		}
		%EXTRA%
	}
}
:9080 {
	password_reset
	respond 404
}
`

func config(t *testing.T, extra string) string {
	return strings.NewReplacer("%DIR%", t.TempDir(), "%EXTRA%", extra).Replace(minimal)
}

// TestCaddyfileAdaptErrors: mistakes the adapter catches, each with a message
// that names the problem.
func TestCaddyfileAdaptErrors(t *testing.T) {
	cases := map[string]struct{ extra, want string }{
		"unknown option":          {"colour blue", "unrecognized password_reset option 'colour'"},
		"smtp twice":              {"smtp 127.0.0.1:25", "smtp already specified"},
		"bad duration":            {"email reset_email {\n url_lifetime forever\n}", `bad duration "forever"`},
		"unknown email option":    {"email reset_email {\n colour blue\n}", "unrecognized email option 'colour'"},
		"bad on/off":              {"email reset_email {\n enabled maybe\n}", "want on or off"},
		"unknown client option":   {"client x {\n colour blue\n}", "unrecognized client option 'colour'"},
		"connection without name": {"connection", "wrong argument count"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := adapt(t, config(t, c.extra))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	_, err := adapt(t, strings.Replace(config(t, ""), "storage badger", "storage mysql", 1))
	if err == nil || !strings.Contains(err.Error(), "password_reset.storage.mysql") {
		t.Errorf("unknown storage backend: %v", err)
	}
	_, err = adapt(t, strings.Replace(config(t, ""), "\tpassword_reset\n\trespond", "\tpassword_reset extra\n\trespond", 1))
	if err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("directive with an argument: %v", err)
	}
}

// TestConfigLoadErrors: mistakes found when Caddy provisions the config (what
// `caddy validate` and `caddy reload` report); the running config stays.
func TestConfigLoadErrors(t *testing.T) {
	cases := map[string]struct {
		edit func(string) string
		want string
	}{
		"missing public_url": {func(c string) string {
			return strings.Replace(c, "public_url http://localhost:9080", "", 1)
		}, "public_url is required"},
		"public_url with credentials": {func(c string) string {
			return strings.Replace(c, "public_url http://localhost:9080", "public_url http://u:p@localhost:9080", 1)
		}, "must not carry credentials"},
		"unreachable template file": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "email reset_email {\n html_file /nonexistent/reset.html\n}", 1)
		}, "no such file"},
		"template with an unknown variable": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "email reset_email {\n subject \"Hi {{ user.nmae }}\"\n}", 1)
		}, "undefined variable"},
		"javascript: result_url": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "client app {\n result_url javascript:alert(1)\n}", 1)
		}, "must be an absolute http or https URL"},
		"scheme-relative result_url": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "client app {\n result_url //evil.example/login\n}", 1)
		}, "must be an absolute http or https URL"},
		"result_url with userinfo": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "client app {\n result_url https://app.example.com@evil.example/\n}", 1)
		}, "must not carry credentials"},
		"empty hook secret": {func(c string) string {
			return strings.Replace(c, "secret 0123456789abcdef0123", "secret {env.E2E_UNSET_SECRET}", 1)
		}, "secret is required"},
		"plain SMTP to another host": {func(c string) string {
			return strings.Replace(c, "smtp 127.0.0.1:2525", "smtp mail.example.com:25 {\n plain\n }", 1)
		}, "loopback"},
		"a language without a catalog": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "languages en fr xh", 1)
		}, "no catalog for language xh"},
		"a malformed language": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "languages en fr_FR!", 1)
		}, "fr_FR!"},
		"a default language not enabled": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "languages en fr\ndefault_language de", 1)
		}, "default language de is not among the enabled languages"},
		"texts for an unknown key": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "texts "+writeTexts(t, `{"fr": {"no.such.key": "x"}}`), 1)
		}, "no.such.key"},
		"texts with a placeholder the text lacks": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "texts "+writeTexts(t, `{"en": {"forgot.intro": "Hi {app}"}}`), 1)
		}, "{app} is not a placeholder of this text"},
		"texts for a language not enabled": {func(c string) string {
			return strings.Replace(c, "%EXTRA%", "languages en fr\ntexts "+writeTexts(t, `{"de": {"page.footer": "x"}}`), 1)
		}, "language de is not enabled"},
		"unknown policy level": {func(c string) string {
			return strings.Replace(c, "secret 0123456789abcdef0123\n\t\t\t}", "secret 0123456789abcdef0123\n\t\t\t}\n\t\t\tpassword_policy strongest", 1)
		}, "strongest"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			caddytest.AssertLoadError(t, strings.Replace(c.edit(config(t, "%EXTRA%")), "%EXTRA%", "", 1), "caddyfile", c.want)
		})
	}
}

// writeTexts writes a texts file and returns its path.
func writeTexts(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "texts.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAdaptedJSONBehavesTheSame loads the JSON that `caddy adapt` prints and runs
// a reset through it.
func TestAdaptedJSONBehavesTheSame(t *testing.T) {
	s := newStack(t, "")
	cfg, err := adapt(t, s.caddyfile())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), testenv.HookSecret) {
		t.Fatal("the adapted JSON contains the hook secret; it must keep the {env.*} placeholder")
	}
	var indented map[string]any
	if err := json.Unmarshal(cfg, &indented); err != nil {
		t.Fatal(err)
	}
	s.tester.InitServer(string(cfg), "json")
	link := s.resetLink("alice@example.com")
	s.openForm(link)
}

// TestTemplateFromFile: the Caddyfile's subject and HTML file are what is sent,
// with the link filled in and user data escaped.
func TestTemplateFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reset.html")
	body := `<p>Hi {{ user.name }}, reset at <a href="{{ url }}">this link</a> within {{ url_lifetime }}.</p>`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, `		email change_password {
			subject "Your {{ application.name }} password"
			url_lifetime 2h
			html_file `+path+`
		}`)
	after := s.box.LastID()
	s.requestReset("alice@example.com")
	msg := s.box.WaitMail(t, "alice@example.com", after)
	if msg.Subject != "Your Demo App password" {
		t.Errorf("subject %q", msg.Subject)
	}
	if !strings.Contains(msg.HTML, "Hi Alice Liddell, reset at") || !strings.Contains(msg.HTML, "within 2 hours.") {
		t.Errorf("HTML part: %s", msg.HTML)
	}
	if !strings.Contains(msg.Text, "this link ("+base+"/lo/reset?ticket=") {
		t.Errorf("derived text part: %s", msg.Text)
	}
}

// TestReloadAppliesAnEditedTemplateFile: an html_file edited after the config
// loaded is what the next mail says once the same Caddyfile is loaded again,
// as `caddy reload` does: the adapter puts the file's digest in the JSON, so
// the edited file makes a changed config (Caddy skips an unchanged one).
func TestReloadAppliesAnEditedTemplateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reset.html")
	write := func(greeting string) {
		body := `<p>` + greeting + ` {{ user.name }}: <a href="{{ url }}">choose a password</a>.</p>`
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mailSays := func(s *stack, want string) {
		t.Helper()
		after := s.box.LastID()
		s.requestReset("alice@example.com")
		if msg := s.box.WaitMail(t, "alice@example.com", after); !strings.Contains(msg.HTML, want) {
			t.Errorf("mail: want %q in\n%s", want, msg.HTML)
		}
	}
	write("Ahoy")
	s := newStack(t, "\t\temail reset_email {\n\t\t\thtml_file "+path+"\n\t\t}")
	mailSays(s, "Ahoy Alice Liddell")
	write("Bonjour")
	s.load() // the same Caddyfile, as `caddy reload` sends it
	mailSays(s, "Bonjour Alice Liddell")
}
