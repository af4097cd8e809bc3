// Package handlers holds the HTTP side of the product: thin net/http handlers that
// parse a request, call the reset service and write the answer. They know nothing
// of Caddy; package caddymodule mounts them.
package handlers

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// The public routes, Auth0's paths.
const (
	PathChangePassword = "/dbconnections/change_password"
	PathReset          = "/lo/reset"
	PathForgot         = "/lo/forgot"
	pathAssets         = "/lo/assets/"
	pagesPrefix        = "/lo/"
)

// Body limits. A reset form carries two passwords of at most policy.MaxBytes each.
const (
	maxRequestBody = 8 << 10
	maxFormBody    = 32 << 10
)

// Public serves the routes an end user and an app's frontend reach: the request
// endpoint, the reset page and the forgot-password page.
type Public struct {
	svc   *reset.Service
	pages *templates.Pages
	log   *zap.Logger
	csrf  csrf
	mux   *http.ServeMux
	// resetPath is the reset page's path as browsers see it (under the public
	// URL's prefix): the ticket cookie is bound to it.
	resetPath string
	// clientIP returns the client's address as the server trusts it (Caddy's
	// trusted_proxies logic); it is recorded, never used to build links.
	clientIP func(*http.Request) string
}

// NewPublic returns the public handler. clientIP may be nil (RemoteAddr is used).
func NewPublic(svc *reset.Service, logger *zap.Logger, clientIP func(*http.Request) string) (*Public, error) {
	pages, err := templates.LoadPages()
	if err != nil {
		return nil, err
	}
	if clientIP == nil {
		clientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	p := &Public{
		svc: svc, pages: pages, log: logger, clientIP: clientIP,
		csrf:      csrf{secure: svc.PublicURL().Scheme == "https"},
		mux:       http.NewServeMux(),
		resetPath: externalPath(svc.PublicURL(), PathReset),
	}
	p.mux.HandleFunc("POST "+PathChangePassword, p.changePassword)
	p.mux.HandleFunc("GET "+PathReset, p.resetPage) // GET also answers HEAD
	p.mux.HandleFunc("POST "+PathReset, p.resetSubmit)
	p.mux.HandleFunc("GET "+PathCancel, p.cancelPage)
	p.mux.HandleFunc("POST "+PathCancel, p.cancelSubmit)
	p.mux.HandleFunc("POST "+PathRevoke, p.revoke)
	p.mux.HandleFunc("GET "+PathForgot, p.forgotPage)
	p.mux.HandleFunc("POST "+PathForgot, p.forgotSubmit)
	p.mux.Handle("GET "+pathAssets, http.StripPrefix(pathAssets, assets()))
	return p, nil
}

// Owns reports whether path is one of the plugin's: everything else goes on to the
// app behind the proxy.
func Owns(path string) bool {
	return path == PathChangePassword || strings.HasPrefix(path, pagesPrefix)
}

// ServeHTTP serves the plugin's routes. Paths under /lo/ that match no route get a
// 404 page rather than the app's answer, so the plugin's namespace stays its own.
func (p *Public) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mux.ServeHTTP(w, r)
}

func assets() http.Handler {
	files := http.FileServerFS(templates.Static())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// writeRequestError answers a refused request in Auth0's Authentication API shape.
func (p *Public) writeRequestError(w http.ResponseWriter, err error) {
	var re *reset.RequestError
	if errors.As(err, &re) {
		writeJSON(w, re.Status, re)
		return
	}
	var rl *reset.RateLimitError
	if errors.As(err, &rl) {
		writeJSON(w, http.StatusTooManyRequests, &reset.RequestError{Code: "too_many_requests",
			Description: "You have reached the limit on password change attempts. Please wait before trying again."})
		return
	}
	if errors.Is(err, reset.ErrUnavailable) {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, &reset.RequestError{Code: "temporarily_unavailable",
			Description: "The password reset service cannot take requests right now. Nothing was sent; please try again shortly."})
		return
	}
	p.log.Error("unexpected error", zap.Error(err))
	writeJSON(w, http.StatusInternalServerError, &reset.RequestError{Code: "server_error", Description: "internal error"})
}

// render writes a page with its security headers.
func (p *Public) render(w http.ResponseWriter, status int, name string, data templates.PageData, formTargets ...string) {
	setPageHeaders(w.Header(), formTargets...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if data.AssetsPath == "" {
		data.AssetsPath = "assets" // relative: works under any path prefix
	}
	w.WriteHeader(status)
	if err := p.pages.Render(w, name, data); err != nil {
		p.log.Error("render page", zap.String("page", name), zap.Error(err))
	}
}

// requestLanguage returns the first language tag of Accept-Language, if it looks
// like one: it is kept with the job for the email's request_language variable, so
// it is bounded and restricted to the characters of a BCP 47 tag.
func requestLanguage(r *http.Request) string {
	tag, _, _ := strings.Cut(r.Header.Get("Accept-Language"), ",")
	tag, _, _ = strings.Cut(tag, ";")
	tag = strings.TrimSpace(tag)
	if len(tag) == 0 || len(tag) > 35 || strings.Trim(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
		return ""
	}
	return tag
}
