package testenv

import (
	"fmt"
	"strings"
)

// CaddyConfig describes one configuration of Caddy with the plugin in front of
// the seeded app, mailing to a Sink (or Caddy without the plugin, the baseline).
// Every site binds to 127.0.0.1 only.
type CaddyConfig struct {
	Admin int // the admin endpoint's port

	// Plugin configures the global password_reset block and the plugin's sites.
	// Without it the same binary runs as a plain reverse proxy: the baseline of
	// resident memory.
	Plugin bool
	// PluginPort is the site with the password_reset directive in front of the
	// app (Plugin only).
	PluginPort int
	// AdminSitePort, if set, serves password_reset_admin with AdminToken
	// (Plugin only).
	AdminSitePort int
	// PlainPort, if set, is the same app without the directive: B2's baseline.
	PlainPort int
	// ProxyPort, if set, reverse_proxies POST /dbconnections/change_password to
	// the app's lookup hook (PathBaselineLookup), and PathBaselineSetPassword to
	// its change_password hook: B1's and B3's baselines.
	ProxyPort int

	App      string // the app's host:port
	SMTP     string // the relay's host:port
	StoreDir string // the Badger directory
	// SyncWrites is the store's sync_writes (the product's default is on).
	SyncWrites bool
	// Storage, if set, replaces the Badger store: the storage directive's
	// arguments and block, e.g. "postgres {env.PASSWORD_RESET_DSN}".
	Storage string
	// PublicURL, if set, is the public_url (default: the plugin site's own): the
	// balancer's address when several nodes serve one site.
	PublicURL string
	// RateLimits keeps the product's default rate limits; without it the config
	// says `rate_limit off`: a load generator is one client IP, which the
	// per-IP limit (20 per 6 s) would refuse after its first burst.
	RateLimits bool
	// Options are extra lines in the password_reset block.
	Options string
	// Log is Caddy's log level (default INFO, as Caddy's).
	Log string
}

// Caddyfile renders c.
func (c CaddyConfig) Caddyfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tauto_https off\n", c.Admin)
	if c.Log != "" {
		fmt.Fprintf(&b, "\tlog {\n\t\tlevel %s\n\t}\n", c.Log)
	}
	if c.Plugin {
		sync := "off"
		if c.SyncWrites {
			sync = "on"
		}
		limits := "\t\trate_limit off\n"
		if c.RateLimits {
			limits = ""
		}
		storage := fmt.Sprintf("badger %s {\n\t\t\tsync_writes %s\n\t\t}", c.StoreDir, sync)
		if c.Storage != "" {
			storage = c.Storage
		}
		public := c.PublicURL
		if public == "" {
			public = fmt.Sprintf("http://127.0.0.1:%d", c.PluginPort)
		}
		fmt.Fprintf(&b, `	password_reset {
		public_url %s
		storage %s
		friendly_name "Bench"
		smtp %s {
			plain
			from "Bench <no-reply@bench.example>"
		}
		connection %s {
			upstream http://%s {
				secret {env.TESTENV_HOOK_SECRET}
			}
			password_policy good
		}
		client %s {
			name "Bench App"
			result_url http://127.0.0.1:%d/login
		}
%s%s	}
`, public, storage, c.SMTP, Conn, c.App, ClientID, c.PluginPort, limits, c.Options)
	}
	b.WriteString("}\n")
	site := func(port int, body string) {
		fmt.Fprintf(&b, "\n:%d {\n\tbind 127.0.0.1\n%s}\n", port, body)
	}
	if c.Plugin && c.PluginPort != 0 {
		site(c.PluginPort, fmt.Sprintf("\tpassword_reset\n\treverse_proxy %s\n", c.App))
	}
	if c.Plugin && c.AdminSitePort != 0 {
		site(c.AdminSitePort, "\tpassword_reset_admin {\n\t\ttoken testenv {env.TESTENV_ADMIN_TOKEN}\n\t}\n")
	}
	if c.PlainPort != 0 {
		site(c.PlainPort, fmt.Sprintf("\treverse_proxy %s\n", c.App))
	}
	if c.ProxyPort != 0 {
		site(c.ProxyPort, fmt.Sprintf("\trewrite /dbconnections/change_password %s\n\treverse_proxy %s\n",
			PathBaselineLookup, c.App))
	}
	return b.String()
}
