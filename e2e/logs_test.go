package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestLogsHoldNoSecrets runs a reset with Caddy logging everything at DEBUG and an
// access log filtered as the README shows, then searches both logs: no ticket, no
// password, no hook secret, in any form.
func TestLogsHoldNoSecrets(t *testing.T) {
	dir := t.TempDir()
	caddyLog, accessLog := filepath.Join(dir, "caddy.log"), filepath.Join(dir, "access.log")
	s := startStack(t, &stack{
		global: "\tlog {\n\t\toutput file " + caddyLog + "\n\t\tlevel DEBUG\n\t}",
		site: "\tlog {\n\t\toutput file " + accessLog + "\n\t\tformat filter {\n\t\t\trequest>uri query {\n" +
			"\t\t\t\tdelete ticket\n\t\t\t}\n\t\t}\n\t}",
	})
	link := s.resetLink("alice@example.com")
	ticket := testenv.Ticket(t, link)
	csrf := s.openForm(link)
	resp, _ := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "newPassword": {"weak"}, "confirmNewPassword": {"weak"}}.Encode())
	if resp.StatusCode != 400 {
		t.Fatalf("weak password: %d", resp.StatusCode)
	}
	resp, _ = s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword}}.Encode())
	if resp.StatusCode != 303 {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	s.drained()
	s.load() // a reload logs the config too
	secrets := map[string]string{
		"ticket": ticket, "ticket, URL-escaped": url.QueryEscape(ticket), "new password": newPassword,
		"weak password attempt": "newPassword=weak", "hook secret": testenv.HookSecret, "CSRF token": csrf,
	}
	for _, path := range []string{caddyLog, accessLog} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || !strings.Contains(string(data), "/lo/reset") && path == accessLog {
			t.Fatalf("%s is empty or lacks the requests: the test would prove nothing", filepath.Base(path))
		}
		for what, secret := range secrets {
			if strings.Contains(string(data), secret) {
				t.Errorf("%s contains the %s", filepath.Base(path), what)
			}
		}
	}
}
