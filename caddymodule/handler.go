package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-password-reset/caddy-password-reset/handlers"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler places the public routes on a site: POST /dbconnections/change_password,
// the reset page under /lo/reset and the forgot page under /lo/forgot. Every other
// request goes on to the next handler (the app). The configuration lives in the
// password_reset app.
type Handler struct {
	app    *App
	public *handlers.Public // built when the app starts
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.password_reset",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision connects the handler to the password_reset app.
func (h *Handler) Provision(ctx caddy.Context) error {
	appModule, err := ctx.App("password_reset")
	if err != nil {
		return fmt.Errorf("password_reset app: %w", err)
	}
	h.app = appModule.(*App)
	logger := ctx.Slogger()
	// The services exist once the app has started (it opens the store then):
	// the HTTP side is built then.
	h.app.whenStarted(func(svc *service.Services) error {
		public, err := handlers.NewPublic(svc.Flow, handlers.PublicConfig{
			Logger: logger, ClientIP: clientIP, Inbound: h.app.inbound, Metrics: publicMetrics{},
		})
		if err != nil {
			return err
		}
		public.UseResetPage(h.app.resetPage)
		h.public = public
		return nil
	})
	return nil
}

func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok {
		return ip
	}
	return handlers.RemoteIP(r)
}

// ServeHTTP serves the plugin's routes and passes everything else on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := h.app.waitStarted(r.Context()); err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	if !h.public.Owns(r.URL.Path) {
		handlers.StripAdminCookies(r)
		return next.ServeHTTP(w, r)
	}
	h.public.ServeHTTP(w, r)
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
