// Package cli tests the built Caddy's command line with the plugin: bin/caddy
// (./xcaddy.sh build, which TestMain runs; a no-op when it is fresh), run as an
// operator runs it.
package cli

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

var caddyBin string

func TestMain(m *testing.M) { testenv.MainWithCaddy(m, "cli", &caddyBin) }

// caddyfile is a complete config whose reset_email block has extra lines.
func caddyfile(dir, email string) string {
	return `{
	admin off
	storage file_system ` + filepath.Join(dir, "caddy") + `
	password_reset {
		public_url http://localhost:9980
		storage badger ` + filepath.Join(dir, "store") + `
		encryption_key 0123456789abcdef0123456789abcdef
		smtp 127.0.0.1:2525
		connection Username-Password-Authentication {
			upstream http://127.0.0.1:9999 {
				secret 0123456789abcdef0123
			}
		}
		email reset_email {
` + email + `
		}
	}
}
:9980 {
	password_reset
	respond 404
}
`
}

// validate runs `caddy validate` on a Caddyfile and returns its output and
// whether it said the config is valid.
func validate(t *testing.T, config string) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatal(err)
	}
	return string(out), err == nil && strings.Contains(string(out), "Valid configuration")
}

// TestValidateRefusesBrokenTemplates: every template that `caddy run` would
// refuse, `caddy validate` refuses too, naming the part and the reason.
func TestValidateRefusesBrokenTemplates(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for name, tc := range map[string]struct{ email, want string }{
		"unknown variable in the subject": {`subject "Hello {{ user.nmae }}"`, "user.nmae"},
		"unclosed if in the html_file": {"html_file " + file("unclosed.html", `<p>{% if user.name %}Hi</p>`),
			"body"},
		"unknown variable in the text_file": {"html_file " + file("ok.html", `<a href="{{ url }}">x</a>`) +
			"\ntext_file " + file("bad.txt", `{{ nope }}`), "nope"},
		"a refused tag": {"html_file " + file("include.html", `{% include "x" %}`), "include"},
	} {
		t.Run(name, func(t *testing.T) {
			out, valid := validate(t, caddyfile(t.TempDir(), tc.email))
			if valid || !strings.Contains(out, tc.want) {
				t.Errorf("caddy validate: valid=%v, want it refused naming %q:\n%s", valid, tc.want, out)
			}
		})
	}
	if out, valid := validate(t, caddyfile(t.TempDir(), `subject "Hello {{ user.name }}"`)); !valid {
		t.Errorf("a good template: caddy validate refused it:\n%s", out)
	}
}

// TestValidateBesideARunningCaddy: caddy validate on the config a running
// Caddy uses (the same Badger directory) says it is valid, and a config
// validated on a fresh machine leaves nothing on disk: no store directory,
// no key file. Validating opens no store.
func TestValidateBesideARunningCaddy(t *testing.T) {
	r := startCaddy(t)
	config := filepath.Join(t.TempDir(), "Caddyfile")
	// The running Caddy's own config, with another admin port: validate does
	// not listen, but the check is of the store.
	if err := os.WriteFile(config, []byte(r.cfg.Caddyfile()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, "validate", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(r.caddy.Dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(r.caddy.Dir, "data"), "TESTENV_HOOK_SECRET="+testenv.HookSecret)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Errorf("caddy validate beside the running Caddy: %v\n%s", err, out)
	}
	if status := opens(t, "http://"+r.site()+"/lo/forgot"); status != http.StatusOK {
		t.Errorf("the running Caddy after the validate: %d", status)
	}

	// A fresh machine, and the key file as the key (no encryption_key).
	dir := t.TempDir()
	fresh := strings.Replace(caddyfile(dir, `subject "Hello {{ user.name }}"`), "\t\tencryption_key 0123456789abcdef0123456789abcdef\n", "", 1)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(fresh), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate on a fresh machine: %v\n%s", err, out)
	}
	for _, path := range []string{filepath.Join(dir, "store"), filepath.Join(dir, "data", "caddy", "password_reset.key")} {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("caddy validate made %s (%v)", path, err)
		}
	}
}
