package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-password-reset/caddy-password-reset/handlers"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// SMTPConfig is the mail relay.
type SMTPConfig struct {
	// Address is host:port. Default: 127.0.0.1:25.
	Address string `json:"address,omitempty"`
	// Security is "starttls" (default), "tls" (implicit TLS, port 465) or
	// "plain" (allowed only to a loopback address). Credentials are never sent
	// over plaintext to another host.
	Security string `json:"security,omitempty"`
	// Username and Password enable AUTH PLAIN. Use {env.X} placeholders.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// From is the sender of emails whose template sets none. Default:
	// no-reply@ the public URL's host.
	From string `json:"from,omitempty"`
	// HelloName is the EHLO name. Default: localhost.
	HelloName string `json:"hello_name,omitempty"`
	// Timeout bounds dialing and each SMTP command. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Connections is how many connections to the relay may be open at once,
	// each carrying one message at a time. Default: 4; at most 32.
	Connections int `json:"connections,omitempty"`
}

// ConnectionConfig is a connection: a database connection reaches users through
// the app's hooks; social and enterprise connections are declared only so that
// requests naming them are refused clearly.
type ConnectionConfig struct {
	Name string `json:"name"`
	// Kind is "database" (default), "social" or "enterprise".
	Kind string `json:"kind,omitempty"`
	// UsersRaw is where the connection's users live: a module of the
	// password_reset.connections namespace (a UserStore), such as "upstream",
	// the app's hooks. Required for a database connection.
	UsersRaw json.RawMessage `json:"users,omitempty" caddy:"namespace=password_reset.connections inline_key=store"`
	// PasswordPolicy is Auth0's level: none, low, fair, good (default) or
	// excellent.
	PasswordPolicy string `json:"password_policy,omitempty"`
	// MinLength overrides the level's minimum length (code points).
	MinLength int `json:"min_length,omitempty"`
	// MaxLength is the longest password accepted (code points). Default: 128.
	MaxLength int `json:"max_length,omitempty"`
	// PasswordDictionary refuses the 10,000 most common passwords and
	// DictionaryWords (whole password, any case). Default: off (on for nist).
	PasswordDictionary bool     `json:"password_dictionary,omitempty"`
	DictionaryWords    []string `json:"password_dictionary_words,omitempty"`
	// NoPersonalInfo refuses passwords containing the user's name or email's
	// local part, as the app's lookup returned them. Default: off.
	NoPersonalInfo bool `json:"password_no_personal_info,omitempty"`
	// MinScore is the lowest zxcvbn strength score accepted, 1-4. Default: off.
	MinScore int `json:"password_min_score,omitempty"`
	// History forbids reusing the last N passwords changed through the plugin,
	// 0-24. Default: 0.
	History int `json:"password_history,omitempty"`
}

// RateLimitsConfig sets the rate limits. Each limit is a burst and the interval
// after which one more request is allowed; an unset limit keeps its default.
type RateLimitsConfig struct {
	// Off disables every limit (for load tests; never in production).
	Off bool `json:"off,omitempty"`
	// IP counts reset requests per client IP (an IPv6 client per /64), as Caddy
	// determines it from its trusted_proxies setting. Default: 20, then 1 per 6s.
	IP *LimitConfig `json:"ip,omitempty"`
	// IPEmail counts per client IP and target email: Auth0's limit. Default: 10,
	// then 1 per minute.
	IPEmail *LimitConfig `json:"ip_email,omitempty"`
	// User counts the reset emails per user, as the app's get_user hook
	// resolved the address, from any IP; it is applied after the lookup, so the
	// requester cannot see it. Past it a user's emails are not refused but
	// postponed and merged: at most one more email when the next one is
	// allowed. Default: 3, then 1 per 5m.
	User *LimitConfig `json:"user,omitempty"`
	// ResetTicket and ResetIP count the reset form's submits per ticket and per
	// IP. Defaults: 10, then 1 per minute; 30, then 1 per 2s.
	ResetTicket *LimitConfig `json:"reset_ticket,omitempty"`
	ResetIP     *LimitConfig `json:"reset_ip,omitempty"`
	// MailPerHour is the global budget of emails per hour; past it, emails wait.
	// Default: 1000; 0 keeps the default, -1 disables it.
	MailPerHour int `json:"mail_per_hour,omitempty"`
}

// LimitConfig is one limit: Burst requests at once, then one per Every.
type LimitConfig struct {
	Burst int            `json:"burst"`
	Every caddy.Duration `json:"every"`
}

func (c *RateLimitsConfig) limits() (reset.Limits, error) {
	l := reset.DefaultLimits()
	if c == nil {
		return l, nil
	}
	if c.Off {
		return reset.Limits{}, nil
	}
	for _, set := range []struct {
		from *LimitConfig
		to   *ratelimit.Limit
	}{{c.IP, &l.IP}, {c.IPEmail, &l.IPEmail}, {c.User, &l.User}, {c.ResetTicket, &l.ResetTicket}, {c.ResetIP, &l.ResetIP}} {
		if set.from != nil {
			*set.to = ratelimit.Limit{Burst: set.from.Burst, Every: time.Duration(set.from.Every)}
		}
	}
	switch {
	case c.MailPerHour < 0:
		l.MailPerHour = 0
	case c.MailPerHour > 0:
		l.MailPerHour = c.MailPerHour
	}
	return l, l.Validate()
}

// ClientConfig is an application.
type ClientConfig struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// ResultURL is where users go after a reset. Empty: a success page.
	ResultURL string `json:"result_url,omitempty"`
	// AllowedURLs are where a ticket's result_url may send this client's users:
	// each an exact origin and a path prefix. Default: the origin of ResultURL
	// (or of the public URL when there is none).
	AllowedURLs []string `json:"allowed_urls,omitempty"`
	// AllowedOrigins are the web origins (scheme://host[:port], no path) whose
	// pages may call the public endpoints from a browser for this client:
	// Auth0's Allowed Web Origins. The public URL's own origin needs none.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
}

// EmailConfig seeds an email template. Unset fields keep the built-in defaults.
type EmailConfig struct {
	// Template is the template's name: reset_email (or Auth0's legacy name
	// change_password).
	Template string `json:"template"`
	From     string `json:"from,omitempty"`
	Subject  string `json:"subject,omitempty"`
	// URLLifetime is how long the emailed link works. Default: 5 days (Auth0).
	URLLifetime caddy.Duration `json:"url_lifetime,omitempty"`
	// ResultURL is the "Redirect To" URL after a reset; it overrides the client's.
	ResultURL string `json:"result_url,omitempty"`
	// IncludeEmailInRedirect adds the email to the redirect. Default: true.
	IncludeEmailInRedirect *bool `json:"include_email_in_redirect,omitempty"`
	// Enabled: a disabled template sends nothing. Default: true.
	Enabled *bool `json:"enabled,omitempty"`
	// HTMLFile and TextFile hold the body (Liquid) and an optional text part.
	HTMLFile string `json:"html_file,omitempty"`
	TextFile string `json:"text_file,omitempty"`
}

// templateAliases maps Auth0's legacy template names to ours.
var templateAliases = map[string]string{"change_password": templates.ResetEmail}

// The bounds of `backlog`: a wait past a minute outlasts every client's
// timeout.
const (
	maxBacklog     = 1_000_000
	maxBacklogWait = time.Minute
)

// serviceConfig turns the configuration into the services' (their store, keys
// and transport aside), loading the connections' user stores; inbound collects
// the verifiers of the app's calls to the plugin, by connection.
func (a *App) serviceConfig(ctx caddy.Context) (service.Config, error) {
	repl := caddy.NewReplacer()
	public, err := parsePublicURL(repl.ReplaceAll(a.PublicURL, ""))
	if err != nil {
		return service.Config{}, err
	}
	cfg := service.Config{
		Site: reset.Site{PublicURL: public, FriendlyName: a.FriendlyName, SupportEmail: a.SupportEmail, SupportURL: a.SupportURL,
			Connections: map[string]*reset.Connection{}, Clients: map[string]*reset.Client{}},
		Emails: map[string]emailtemplates.Template{}, AuditRetention: time.Duration(a.AuditRetention),
		MaxAccepted: a.Backlog, AcceptWait: time.Duration(a.BacklogWait),
	}
	if a.Backlog < 0 || a.Backlog > maxBacklog || a.BacklogWait < 0 || time.Duration(a.BacklogWait) > maxBacklogWait {
		return service.Config{}, fmt.Errorf("backlog: %d requests waiting %v; want 1 to %d requests and a wait of at most %v",
			a.Backlog, time.Duration(a.BacklogWait), maxBacklog, maxBacklogWait)
	}
	if cfg.Site.FriendlyName == "" {
		cfg.Site.FriendlyName = public.Hostname()
	}
	if cfg.Site.Languages, err = a.languages(); err != nil {
		return service.Config{}, err
	}
	a.inbound = map[string]handlers.InboundVerifier{}
	for i := range a.Connections {
		cc := &a.Connections[i]
		conn, err := a.buildConnection(ctx, cc)
		if err != nil {
			return service.Config{}, fmt.Errorf("connection %s: %w", cc.Name, err)
		}
		if cfg.Site.Connections[cc.Name] != nil {
			return service.Config{}, fmt.Errorf("connection %s is declared twice", cc.Name)
		}
		cfg.Site.Connections[cc.Name] = conn
	}
	if err := a.addClients(&cfg.Site); err != nil {
		return service.Config{}, err
	}
	for _, ec := range a.Emails {
		t, err := buildEmail(ec, cfg.Site.Languages.Default())
		if err == nil {
			// Compiled here, in Provision, so that caddy validate refuses
			// what caddy run would: the store seeds it only in Start.
			_, err = emailtemplates.Check(t)
		}
		if err != nil {
			return service.Config{}, fmt.Errorf("email %s: %w", ec.Template, err)
		}
		if _, dup := cfg.Emails[t.Template]; dup {
			return service.Config{}, fmt.Errorf("email %s is declared twice (change_password is another name for reset_email)", ec.Template)
		}
		cfg.Emails[t.Template] = t
	}
	cfg.Site.DefaultFrom = a.defaultFrom(public)
	if cfg.Limits, err = a.RateLimits.limits(); err != nil {
		return service.Config{}, err
	}
	return cfg, nil
}

func parsePublicURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("public_url is required: links in emails are built on it, never on the Host header")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("public_url %q must be an absolute http or https URL", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("public_url %q must not carry credentials, a query or a fragment", s)
	}
	return u, nil
}

func (a *App) buildConnection(ctx caddy.Context, cc *ConnectionConfig) (*reset.Connection, error) {
	if cc.Name == "" {
		return nil, errors.New("a connection needs a name")
	}
	kind := users.Database
	if cc.Kind != "" {
		var err error
		if kind, err = users.ParseKind(cc.Kind); err != nil {
			return nil, err
		}
	}
	conn := &reset.Connection{Name: cc.Name, Kind: kind}
	if kind != users.Database {
		if cc.UsersRaw != nil {
			return nil, fmt.Errorf("a %s connection has no passwords, so no user store (upstream)", kind)
		}
		return conn, nil
	}
	pol, err := buildPolicy(*cc)
	if err != nil {
		return nil, err
	}
	conn.Policy = pol
	if cc.UsersRaw == nil {
		return nil, errors.New("a database connection needs an upstream (the app's hooks) or another user store")
	}
	mod, err := ctx.LoadModule(cc, "UsersRaw")
	if err != nil {
		return nil, fmt.Errorf("user store: %w", err)
	}
	store, ok := mod.(UserStore)
	if !ok {
		return nil, fmt.Errorf("user store module %T is not a UserStore", mod)
	}
	if up, ok := mod.(*UpstreamConnection); ok {
		up.upstream.Connection = cc.Name // named in its errors
		a.inbound[cc.Name] = up.inbound()
	}
	conn.Users = connection.NewDirectory(cc.Name, store)
	return conn, nil
}

func buildPolicy(cc ConnectionConfig) (policy.Policy, error) {
	level := policy.Level("good")
	if cc.PasswordPolicy != "" {
		var err error
		if level, err = policy.ParseLevel(cc.PasswordPolicy); err != nil {
			return policy.Policy{}, err
		}
	}
	p := policy.Policy{Level: level, MinLength: cc.MinLength, MaxLength: cc.MaxLength,
		Dictionary: cc.PasswordDictionary, CustomWords: cc.DictionaryWords, NoPersonalInfo: cc.NoPersonalInfo,
		MinZxcvbnScore: cc.MinScore, History: cc.History}
	return p, p.Validate()
}

func (a *App) addClients(cfg *reset.Site) error {
	for _, c := range a.Clients {
		if c.ID == "" {
			return errors.New("a client needs an id")
		}
		if cfg.Clients[c.ID] != nil {
			return fmt.Errorf("client %s is declared twice", c.ID)
		}
		client, err := buildClient(c, cfg.PublicURL)
		if err != nil {
			return fmt.Errorf("client %s: %w", c.ID, err)
		}
		cfg.Clients[c.ID] = client
		if cfg.DefaultClient == "" {
			cfg.DefaultClient = c.ID
		}
	}
	return nil
}

func buildClient(c ClientConfig, public *url.URL) (*reset.Client, error) {
	if err := checkResultURL(c.ResultURL); err != nil {
		return nil, err
	}
	allowed := c.AllowedURLs
	if len(allowed) == 0 {
		base := public
		if c.ResultURL != "" {
			base, _ = url.Parse(c.ResultURL)
		}
		allowed = []string{base.Scheme + "://" + base.Host + "/"}
	}
	client := &reset.Client{ID: c.ID, Name: c.Name, ResultURL: c.ResultURL}
	for _, raw := range c.AllowedOrigins {
		origin, err := parseOrigin(raw)
		if err != nil {
			return nil, fmt.Errorf("allowed_origins: %w", err)
		}
		client.AllowedOrigins = append(client.AllowedOrigins, origin)
	}
	for _, raw := range allowed {
		a, err := reset.ParseAllowedURL(raw)
		if err != nil {
			return nil, fmt.Errorf("allowed_urls: %w", err)
		}
		client.AllowedURLs = append(client.AllowedURLs, a)
	}
	if c.ResultURL != "" {
		if err := client.CheckResultURL(c.ResultURL); err != nil {
			return nil, fmt.Errorf("result_url is outside the client's allowed_urls: %w", err)
		}
	}
	return client, nil
}

// parseOrigin accepts a web origin as browsers send it in the Origin header:
// http or https, a host, an optional port, nothing else. A wildcard or a path
// would make the allow list mean something other than what it says, so both
// are refused rather than guessed at.
func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin: want scheme://host[:port], for example https://spa.example.com", raw)
	}
	if strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("%q: wildcards are not supported; list each origin", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%q is not an origin: an origin has no path, query, fragment or credentials", raw)
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port) // browsers omit the default port
	}
	return u.Scheme + "://" + host, nil
}

// checkResultURL accepts only absolute http(s) URLs without credentials: a result
// URL is where users are sent with Auth0's parameters, so it must not be a
// javascript: URL, a scheme-relative //host or a user@host trick.
func checkResultURL(s string) error {
	if s == "" {
		return nil
	}
	return reset.ValidateResultURL(s)
}

func buildEmail(ec EmailConfig, lang *templates.Lang) (emailtemplates.Template, error) {
	name := ec.Template
	if alias, ok := templateAliases[name]; ok {
		name = alias
	}
	t, err := emailtemplates.Default(name, lang)
	if err != nil {
		return t, fmt.Errorf("unknown email template %q (want reset_email, its Auth0 name change_password, or password_changed)", ec.Template)
	}
	if err := checkResultURL(ec.ResultURL); err != nil {
		return t, err
	}
	if ec.URLLifetime < 0 || (ec.URLLifetime > 0 && time.Duration(ec.URLLifetime) < time.Minute) {
		return t, errors.New("url_lifetime must be at least 1m")
	}
	if err := readTemplateFile(ec.HTMLFile, &t.Body); err != nil {
		return t, err
	}
	if ec.HTMLFile != "" {
		t.Text = "" // a custom body without a text file gets a text part derived from it
	}
	if err := readTemplateFile(ec.TextFile, &t.Text); err != nil {
		return t, err
	}
	t.From = orDefault(ec.From, t.From)
	t.Subject = orDefault(ec.Subject, t.Subject)
	t.ResultURL = ec.ResultURL
	if ec.URLLifetime > 0 {
		t.URLLifetimeInSeconds = int(time.Duration(ec.URLLifetime) / time.Second)
	}
	if ec.IncludeEmailInRedirect != nil {
		t.IncludeEmailInRedirect = *ec.IncludeEmailInRedirect
	}
	if ec.Enabled != nil {
		t.Enabled = *ec.Enabled
	}
	return t, nil
}

func readTemplateFile(path string, dst *string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("template file: %w", err)
	}
	*dst = string(data)
	return nil
}

func (a *App) defaultFrom(public *url.URL) string {
	if a.SMTP != nil && a.SMTP.From != "" {
		return a.SMTP.From
	}
	return "no-reply@" + public.Hostname()
}

func (a *App) smtpConfig() (mail.Config, error) {
	sc := a.SMTP
	if sc == nil {
		sc = &SMTPConfig{}
	}
	repl := caddy.NewReplacer()
	addr := repl.ReplaceAll(sc.Address, "")
	if sc.Address != "" && addr == "" {
		return mail.Config{}, fmt.Errorf("smtp address %q is empty once expanded: is the environment variable set?", sc.Address)
	}
	cfg := mail.Config{
		Addr:        orDefault(addr, "127.0.0.1:25"),
		Security:    mail.Security(sc.Security),
		Username:    repl.ReplaceAll(sc.Username, ""),
		Password:    repl.ReplaceAll(sc.Password, ""),
		HelloName:   sc.HelloName,
		Timeout:     time.Duration(sc.Timeout),
		Connections: sc.Connections,
	}
	if sc.Security == "" && isLoopback(cfg.Addr) && cfg.Username == "" {
		cfg.Security = mail.SecurityPlain // a local relay: the default address
	}
	return cfg, cfg.Validate()
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
