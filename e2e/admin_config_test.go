package e2e

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// adminSite is a site with the admin directive; %BLOCK% is its body.
const adminSite = `
:9081 {
	password_reset_admin %BLOCK%
}
`

// TestAdminConfigErrors: an admin site without a token, and without the explicit
// `token none` that says Caddy's own authentication guards it, is refused, as
// are malformed and weak tokens; the adapter and the provisioning say why.
func TestAdminConfigErrors(t *testing.T) {
	adaptCases := map[string]struct{ block, want string }{
		"no block":            {"", "needs a token"},
		"empty block":         {"{\n\t}", "needs a token"},
		"token without value": {"{\n\t\ttoken ops\n\t}", "token takes a name and a secret"},
		"three arguments":     {"{\n\t\ttoken ops a b\n\t}", "token takes a name and a secret"},
		"none with tokens":    {"{\n\t\ttoken none\n\t\ttoken ops {env.E2E_ADMIN_TOKEN}\n\t}", "cannot be combined"},
		"unknown option":      {"{\n\t\tcolour blue\n\t}", "unrecognized password_reset_admin option 'colour'"},
	}
	for name, c := range adaptCases {
		t.Run(name, func(t *testing.T) {
			_, err := adapt(t, config(t, "")+strings.Replace(adminSite, "%BLOCK%", c.block, 1))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	loadCases := map[string]struct{ block, want string }{
		"token from an unset variable": {"{\n\t\ttoken ops {env.E2E_UNSET_ADMIN_TOKEN}\n\t}", "is empty"},
		"short token":                  {"{\n\t\ttoken ops short-secret\n\t}", "too weak"},
		"token of 64 bits":             {"{\n\t\ttoken ops 0123456789abcdef\n\t}", "too weak"},
		"repetitive token":             {"{\n\t\ttoken ops abababababababababababababababababababab\n\t}", "too weak"},
		"same name twice":              {"{\n\t\ttoken ops {env.E2E_ADMIN_TOKEN}\n\t\ttoken ops {env.E2E_CI_TOKEN}\n\t}", "declared twice"},
	}
	for name, c := range loadCases {
		t.Run(name, func(t *testing.T) {
			caddytest.AssertLoadError(t, config(t, "")+strings.Replace(adminSite, "%BLOCK%", c.block, 1), "caddyfile", c.want)
		})
	}
	// The JSON config, which skips the adapter's checks, is refused at load.
	t.Run("JSON without tokens", func(t *testing.T) {
		cfg, err := adapt(t, config(t, "")+strings.Replace(adminSite, "%BLOCK%", "{\n\t\ttoken none\n\t}", 1))
		if err != nil {
			t.Fatal(err)
		}
		json := strings.Replace(string(cfg), `"no_token":true`, `"tokens":[]`, 1)
		if json == string(cfg) {
			t.Fatalf("no no_token in the adapted JSON:\n%s", cfg)
		}
		caddytest.AssertLoadError(t, json, "json", "needs a token")
	})
	// The secret stays a placeholder in the adapted JSON.
	cfg, err := adapt(t, config(t, "")+strings.Replace(adminSite, "%BLOCK%", "{\n\t\ttoken ops {env.E2E_ADMIN_TOKEN}\n\t}", 1))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), adminToken) || !strings.Contains(string(cfg), "{env.E2E_ADMIN_TOKEN}") {
		t.Errorf("the adapted JSON does not keep the token's placeholder:\n%s", cfg)
	}
}
