package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseResetPage: reset_page takes one file, in the global block.
func TestParseResetPage(t *testing.T) {
	got, err := parse(t, "password_reset {\n reset_page /etc/caddy/reset-page.html\n}")
	if err != nil || got.ResetPage != "/etc/caddy/reset-page.html" {
		t.Errorf("parse: %+v, %v", got, err)
	}
	for _, input := range []string{"password_reset {\n reset_page\n}", "password_reset {\n reset_page a.html b.html\n}"} {
		if _, err := parse(t, input); err == nil || !strings.Contains(err.Error(), "wrong argument count") {
			t.Errorf("%q: %v, want wrong argument count", input, err)
		}
	}
}

// TestLoadResetPage: a custom reset page is compiled when the config is
// provisioned: a file that is missing, or that could not render, stops the
// config with the file, the line and why, rather than failing a user's page.
func TestLoadResetPage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if page, err := loadResetPage(""); page != nil || err != nil {
		t.Errorf("no reset_page: %v, %v", page, err)
	}
	good := write("good.html", `<form action="{{ form_action }}"><input type="hidden" name="_csrf" value="{{ csrf_token }}"></form>`)
	if page, err := loadResetPage(good); page == nil || err != nil {
		t.Errorf("a good page: %v", err)
	}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.html"), "reset_page: template file"},
		{write("typo.html", "<p>\n{{ emial }}</p>"), "typo.html: reset page, line 2: undefined variable"},
		{write("unclosed.html", "{% if email %}\n<p>"), `unclosed.html: reset page, line 1: unterminated "if" block`},
		{write("include.html", "{% include 'x.html' %}"), "the include tag is not allowed in the reset page"},
	} {
		_, err := loadResetPage(tt.path)
		checkErr(t, err, tt.want)
	}
}
