package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-password-reset/caddy-password-reset/handlers"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
)

func init() {
	caddy.RegisterModule(AdminHandler{})
	httpcaddyfile.RegisterHandlerDirective("password_reset_admin", parseAdminHandler)
	// After Caddy's basic_auth and forward_auth, so that either can guard the
	// admin routes in front of (or instead of) the handler's own tokens.
	httpcaddyfile.RegisterDirectiveOrder("password_reset_admin", httpcaddyfile.After, "forward_auth")
}

// AdminHandler places the admin routes on a site: Auth0's Management API calls
// under /api/v2/ (password-change tickets, setting a password, email templates,
// logs) and the dashboard under /admin/. Other requests go on to the next handler.
// Place it on a site only admins reach, such as an internal address.
type AdminHandler struct {
	// Tokens are the bearer tokens that open the admin routes; each name appears
	// in the audit log. Use {env.X} placeholders for the secrets (16+ characters).
	Tokens []AdminTokenConfig `json:"tokens,omitempty"`

	// NoToken turns the handler's own tokens off because Caddy's basic_auth or
	// forward_auth guards the routes in front of it. Without tokens and without
	// NoToken the config is refused: an open admin API lets anyone set any
	// password.
	NoToken bool `json:"no_token,omitempty"`

	app   *App
	admin *handlers.Admin // built when the app starts
}

// AdminTokenConfig is one admin token.
type AdminTokenConfig struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// CaddyModule returns the Caddy module information.
func (AdminHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.password_reset_admin",
		New: func() caddy.Module { return new(AdminHandler) },
	}
}

// Provision connects the handler to the password_reset app and reads the tokens.
func (h *AdminHandler) Provision(ctx caddy.Context) error {
	appModule, err := ctx.App("password_reset")
	if err != nil {
		return fmt.Errorf("password_reset app: %w", err)
	}
	app := appModule.(*App)
	h.app = app
	repl := caddy.NewReplacer()
	provider, err := app.emailProvider()
	if err != nil {
		return err
	}
	cfg := handlers.AdminConfig{
		NoToken: h.NoToken, ClientIP: clientIP, Principal: authUser, Logger: ctx.Slogger(),
		SMTPConfigured: app.SMTP != nil && app.SMTP.Address != "", EmailProvider: provider,
	}
	for _, t := range h.Tokens {
		cfg.Tokens = append(cfg.Tokens, handlers.AdminToken{Name: t.Name, Secret: repl.ReplaceAll(t.Secret, "")})
	}
	// Checked now, so that caddy validate refuses a weak token; served once
	// the app has started and built the services.
	if _, err := handlers.NewAdmin(nil, cfg); err != nil {
		return err
	}
	app.whenStarted(func(svc *service.Services) error {
		admin, err := handlers.NewAdmin(svc.Admin, cfg)
		h.admin = admin
		return err
	})
	return nil
}

// emailProvider is the relay the Management API shows: its address and user as
// the sender uses them (placeholders expanded), and not the password, which
// stays with the sender.
func (a *App) emailProvider() (*handlers.EmailProvider, error) {
	smtp, err := a.smtpConfig()
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	p, err := handlers.EmailProviderOf(smtp.Addr, smtp.Username)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", smtp.Addr, err)
	}
	return p, nil
}

// authUser is the user Caddy's basic_auth (or another authentication handler)
// let in: the {http.auth.user.id} placeholder.
func authUser(r *http.Request) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	id, _ := repl.GetString("http.auth.user.id")
	return id
}

// ServeHTTP serves the admin routes and passes everything else on.
func (h *AdminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !handlers.OwnsAdmin(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	if err := h.app.waitStarted(r.Context()); err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	h.admin.ServeHTTP(w, r)
	return nil
}

// parseAdminHandler parses the site directive:
//
//	password_reset_admin {
//		token <name> <secret>    (repeatable; the secret as {env.X})
//		token none               (Caddy's basic_auth/forward_auth guards the routes)
//	}
func parseAdminHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // the directive's name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	a := new(AdminHandler)
	for h.NextBlock(0) {
		switch h.Val() {
		case "token":
			args := h.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] == "none":
				a.NoToken = true
			case len(args) == 2:
				a.Tokens = append(a.Tokens, AdminTokenConfig{Name: args[0], Secret: args[1]})
			default:
				return nil, h.Err("token takes a name and a secret (token <name> {env.X}), or the single word none")
			}
		default:
			return nil, h.Errf("unrecognized password_reset_admin option '%s'", h.Val())
		}
	}
	if a.NoToken && len(a.Tokens) > 0 {
		return nil, h.Err("token none cannot be combined with tokens")
	}
	if !a.NoToken && len(a.Tokens) == 0 {
		return nil, h.Err("password_reset_admin needs a token (token <name> {env.X}), or `token none` when basic_auth or forward_auth guards it")
	}
	return a, nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*AdminHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*AdminHandler)(nil)
)
