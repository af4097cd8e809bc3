package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("password_reset", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("password_reset", parseHandler)
	// Before rewrite: the plugin sees the original path, ahead of a site's
	// rewrites and try_files (an SPA's fallback would otherwise swallow /lo/reset)
	// and ahead of basic_auth/forward_auth, since a user who forgot their password
	// cannot sign in.
	httpcaddyfile.RegisterDirectiveOrder("password_reset", httpcaddyfile.Before, "rewrite")
}

// parseGlobalOption parses the global password_reset block:
//
//	password_reset {
//		public_url <url>
//		storage badger [<path>] { sync_writes on|off }
//		friendly_name <name>
//		support_email <address>
//		support_url <url>
//		reset_page <file>
//		languages <tag>...
//		default_language <tag>
//		texts <file>
//		smtp <host:port> {
//			security starttls|tls|plain    (or the bare words starttls, tls, plain)
//			username <user>
//			password <password>
//			from <address>
//			hello_name <name>
//			connections <n>
//			timeout <duration>
//		}
//		connection <name> [database|social|enterprise] {
//			upstream <url> {
//				get_user <path>
//				change_password <path>
//				secret <secret>
//				timeout <duration>
//			}
//			password_policy none|low|fair|good|excellent|nist
//			min_length <n>
//			max_length <n>
//			password_dictionary on|off
//			password_dictionary_words <word>...
//			password_no_personal_info on|off
//			password_min_score <0-4>
//			password_history <0-24>
//		}
//		client <id> {
//			name <name>
//			result_url <url>
//			allowed_urls <url>...
//			allowed_origins <origin>...
//		}
//		rate_limit off | {
//			ip <burst> <interval>|off
//			ip_email <burst> <interval>|off
//			email <burst> <interval>|off
//			reset_ticket <burst> <interval>|off
//			reset_ip <burst> <interval>|off
//			mail_per_hour <n>
//		}
//		email reset_email|change_password {
//			from <address>
//			subject <subject>
//			url_lifetime <duration>
//			result_url <url>
//			include_email_in_redirect on|off
//			enabled on|off
//			html_file <path>
//			text_file <path>
//		}
//		audit_retention <duration>
//		backlog <n> [<wait>]
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("password_reset may be declared only once")
	}
	var app App
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	app.FilesDigest = app.filesDigest()
	return httpcaddyfile.App{Name: "password_reset", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens; see parseGlobalOption.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if err := a.unmarshalOption(d); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) unmarshalOption(d *caddyfile.Dispenser) error {
	switch d.Val() {
	case "public_url":
		return oneArg(d, &a.PublicURL)
	case "friendly_name":
		return oneArg(d, &a.FriendlyName)
	case "support_email":
		return oneArg(d, &a.SupportEmail)
	case "support_url":
		return oneArg(d, &a.SupportURL)
	case "reset_page":
		return oneArg(d, &a.ResetPage)
	case "languages":
		a.Languages = d.RemainingArgs()
		if len(a.Languages) == 0 {
			return d.ArgErr()
		}
		return nil
	case "default_language":
		return oneArg(d, &a.DefaultLanguage)
	case "texts":
		return oneArg(d, &a.TextsFile)
	case "storage":
		return a.unmarshalStorage(d)
	case "smtp":
		return a.unmarshalSMTP(d)
	case "connection":
		return a.unmarshalConnection(d)
	case "client":
		return a.unmarshalClient(d)
	case "email":
		return a.unmarshalEmail(d)
	case "audit_retention":
		return durationArg(d, &a.AuditRetention)
	case "encryption_key":
		return oneArg(d, &a.EncryptionKey)
	case "rate_limit":
		return a.unmarshalRateLimits(d)
	case "backlog":
		return a.unmarshalBacklog(d)
	}
	return d.Errf("unrecognized password_reset option '%s'", d.Val())
}

func (a *App) unmarshalStorage(d *caddyfile.Dispenser) error {
	if a.StorageRaw != nil {
		return d.Err("storage already specified")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	mod, err := caddyfile.UnmarshalModule(d, "password_reset.storage."+name)
	if err != nil {
		return err
	}
	a.StorageRaw = caddyconfig.JSONModuleObject(mod, "backend", name, nil)
	return nil
}

// UnmarshalCaddyfile parses `badger [<path>] { sync_writes on|off }`.
func (b *BadgerStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "badger"
	if d.NextArg() {
		b.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "sync_writes":
			on, err := onOff(d)
			if err != nil {
				return err
			}
			b.SyncWrites = &on
		default:
			return d.Errf("unrecognized badger storage option '%s'", d.Val())
		}
	}
	return nil
}

func (a *App) unmarshalSMTP(d *caddyfile.Dispenser) error {
	if a.SMTP != nil {
		return d.Err("smtp already specified")
	}
	s := &SMTPConfig{}
	a.SMTP = s
	if d.NextArg() {
		s.Address = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "starttls", "tls", "plain":
			s.Security = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "security":
			err = oneArg(d, &s.Security)
		case "username":
			err = oneArg(d, &s.Username)
		case "password":
			err = oneArg(d, &s.Password)
		case "from":
			err = oneArg(d, &s.From)
		case "hello_name":
			err = oneArg(d, &s.HelloName)
		case "timeout":
			err = durationArg(d, &s.Timeout)
		case "connections":
			if err = intArg(d, &s.Connections); err == nil && s.Connections < 1 {
				err = d.Errf("connections %d: want 1 to %d", s.Connections, mail.MaxConnections)
			}
		default:
			return d.Errf("unrecognized smtp option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *App) unmarshalConnection(d *caddyfile.Dispenser) error {
	var c ConnectionConfig
	if !d.Args(&c.Name) {
		return d.ArgErr()
	}
	if d.NextArg() {
		c.Kind = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "upstream", "store":
			err = c.unmarshalUsers(d)
		case "password_policy":
			err = oneArg(d, &c.PasswordPolicy)
		case "min_length":
			err = intArg(d, &c.MinLength)
		case "max_length":
			err = intArg(d, &c.MaxLength)
		case "password_dictionary":
			c.PasswordDictionary, err = onOff(d)
		case "password_dictionary_words":
			c.DictionaryWords = append(c.DictionaryWords, d.RemainingArgs()...)
		case "password_no_personal_info":
			c.NoPersonalInfo, err = onOff(d)
		case "password_min_score":
			err = intArg(d, &c.MinScore)
		case "password_history":
			err = intArg(d, &c.History)
		default:
			return d.Errf("unrecognized connection option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	a.Connections = append(a.Connections, c)
	return nil
}

// unmarshalUsers parses the connection's user store: `upstream <url> { ... }`
// (the app's hooks), or `store <module> { ... }` for another module of the
// password_reset.connections namespace.
func (c *ConnectionConfig) unmarshalUsers(d *caddyfile.Dispenser) error {
	if c.UsersRaw != nil {
		return d.Err("the connection's user store (upstream or store) is already specified")
	}
	name := "upstream"
	if d.Val() == "store" {
		if !d.NextArg() {
			return d.ArgErr()
		}
		name = d.Val()
	}
	unm, err := caddyfile.UnmarshalModule(d, "password_reset.connections."+name)
	if err != nil {
		return err
	}
	c.UsersRaw = caddyconfig.JSONModuleObject(unm, "store", name, nil)
	return nil
}

func (a *App) unmarshalClient(d *caddyfile.Dispenser) error {
	var c ClientConfig
	if err := oneArg(d, &c.ID); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			err = oneArg(d, &c.Name)
		case "result_url":
			err = oneArg(d, &c.ResultURL)
		case "allowed_urls":
			err = moreArgs(d, &c.AllowedURLs)
		case "allowed_origins":
			err = moreArgs(d, &c.AllowedOrigins)
		default:
			return d.Errf("unrecognized client option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	a.Clients = append(a.Clients, c)
	return nil
}

func (a *App) unmarshalEmail(d *caddyfile.Dispenser) error {
	var e EmailConfig
	if err := oneArg(d, &e.Template); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "from":
			err = oneArg(d, &e.From)
		case "subject":
			err = oneArg(d, &e.Subject)
		case "url_lifetime":
			err = durationArg(d, &e.URLLifetime)
		case "result_url":
			err = oneArg(d, &e.ResultURL)
		case "include_email_in_redirect":
			e.IncludeEmailInRedirect, err = onOffPtr(d)
		case "enabled":
			e.Enabled, err = onOffPtr(d)
		case "html_file":
			err = oneArg(d, &e.HTMLFile)
		case "text_file":
			err = oneArg(d, &e.TextFile)
		default:
			return d.Errf("unrecognized email option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	a.Emails = append(a.Emails, e)
	return nil
}

func (a *App) unmarshalRateLimits(d *caddyfile.Dispenser) error {
	if a.RateLimits != nil {
		return d.Err("rate_limit already specified")
	}
	rl := &RateLimitsConfig{}
	a.RateLimits = rl
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return d.Errf("rate_limit takes a block, or the single word off")
		}
		rl.Off = true
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "ip":
			rl.IP, err = limitArgs(d)
		case "ip_email":
			rl.IPEmail, err = limitArgs(d)
		case "user", "email": // email: the older name, when it counted the address typed
			rl.User, err = limitArgs(d)
		case "reset_ticket":
			rl.ResetTicket, err = limitArgs(d)
		case "reset_ip":
			rl.ResetIP, err = limitArgs(d)
		case "mail_per_hour":
			err = intArg(d, &rl.MailPerHour)
		default:
			return d.Errf("unrecognized rate_limit option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// limitArgs parses `<burst> <interval>`, or `off`.
func limitArgs(d *caddyfile.Dispenser) (*LimitConfig, error) {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 1 && args[0] == "off" {
		return &LimitConfig{}, nil
	}
	if len(args) != 2 {
		return nil, d.Errf("%s takes a burst and an interval (e.g. %s 10 1m), or off", name, name)
	}
	burst, err := strconv.Atoi(args[0])
	if err != nil || burst < 1 {
		return nil, d.Errf("bad burst %q for %s", args[0], name)
	}
	every, err := caddy.ParseDuration(args[1])
	if err != nil || every <= 0 {
		return nil, d.Errf("bad interval %q for %s", args[1], name)
	}
	return &LimitConfig{Burst: burst, Every: caddy.Duration(every)}, nil
}

// parseHandler parses the site directive `password_reset`, which takes no options:
// its configuration is the global password_reset block.
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // the directive's name
	if h.NextArg() || h.NextBlock(0) {
		return nil, h.Err("the password_reset directive takes no options; configure it in the global password_reset block")
	}
	return new(Handler), nil
}

// oneArg reads exactly one argument into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// moreArgs appends the line's remaining arguments, at least one, to dst.
func moreArgs(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}

// unmarshalBacklog reads `backlog <n> [<wait>]`.
func (a *App) unmarshalBacklog(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > maxBacklog {
		return d.Errf("backlog: %q is not a number of requests from 1 to %d", args[0], maxBacklog)
	}
	a.Backlog = n
	if len(args) == 2 {
		wait, err := caddy.ParseDuration(args[1])
		if err != nil || wait <= 0 || wait > maxBacklogWait {
			return d.Errf("backlog: %q is not a wait from 1ms to %v", args[1], maxBacklogWait)
		}
		a.BacklogWait = caddy.Duration(wait)
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("bad duration %q for %s: %v", s, name, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return d.Errf("bad number %q: %v", s, err)
	}
	*dst = n
	return nil
}

func onOff(d *caddyfile.Dispenser) (bool, error) {
	var s string
	if err := oneArg(d, &s); err != nil {
		return false, err
	}
	switch s {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, d.Errf("want on or off, got %q", s)
}

func onOffPtr(d *caddyfile.Dispenser) (*bool, error) {
	v, err := onOff(d)
	return &v, err
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*BadgerStorage)(nil)
)
