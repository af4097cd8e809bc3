// Package handlers holds the HTTP side of the product: thin net/http handlers that
// parse a request, call the reset flow (internal/reset) or the admin service
// (internal/admin) and write the answer. They know nothing of Caddy; package
// caddymodule mounts them.
//
// At about 2,600 lines the package is over the ~2,000 we aim for, on purpose: it
// is the one HTTP layer, and the public side (public.go, forgot.go, resetpage.go,
// cancel.go, changepassword.go, revoke.go) and the admin side (admin*.go) share
// one error mapping (errors.go), one form reader (parse.go) and one set of
// security headers (security.go). Splitting the admin side into a package of its
// own would export those or write them twice. No file is over ~500 lines.
package handlers

import (
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

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
	log   *slog.Logger
	csrf  csrf
	mux   *http.ServeMux
	// resetPath is the reset page's path as browsers see it (under the public
	// URL's prefix): the ticket cookie is bound to it.
	resetPath string
	// assetsPath is where browsers find the assets, for pages served at a
	// depth where the default relative path would not reach them.
	assetsPath string
	// clientIP returns the client's address as the server trusts it (Caddy's
	// trusted_proxies logic); it is recorded, never used to build links.
	clientIP func(*http.Request) string
	inbound  map[string]InboundVerifier
	// selfOrigin is the public URL's origin: its own pages need no CORS entry.
	selfOrigin string
	metrics    Metrics // nil: nothing counted
}

// PublicConfig configures the public handler.
type PublicConfig struct {
	Logger *slog.Logger
	// ClientIP returns the client's address as the server trusts it; nil means
	// RemoteAddr.
	ClientIP func(*http.Request) string
	// Inbound verifies the app's calls to the plugin (revoke_tickets), by
	// connection name: the connections whose store takes such calls.
	Inbound map[string]InboundVerifier
	// Metrics, if set, counts the requests by route and outcome.
	Metrics Metrics
}

// NewPublic returns the public handler of the flow svc.
func NewPublic(svc *reset.Service, cfg PublicConfig) (*Public, error) {
	pages, err := templates.LoadPages()
	if err != nil {
		return nil, err
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = RemoteIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	public := svc.Site().PublicURL
	p := &Public{
		svc: svc, pages: pages, log: cfg.Logger, clientIP: cfg.ClientIP, inbound: cfg.Inbound, metrics: cfg.Metrics,
		csrf:       csrf{secure: public.Scheme == "https"},
		mux:        http.NewServeMux(),
		resetPath:  externalPath(public, PathReset),
		assetsPath: strings.TrimSuffix(externalPath(public, pathAssets), "/"),
		selfOrigin: public.Scheme + "://" + public.Host,
	}
	p.mux.HandleFunc("POST "+PathChangePassword, p.changePassword)
	p.mux.HandleFunc("OPTIONS "+PathChangePassword, p.preflight(http.MethodPost, p.anyClient))
	p.mux.HandleFunc("POST "+PathChallenge, p.challenge)
	p.mux.HandleFunc("OPTIONS "+PathChallenge, p.preflight(http.MethodPost, p.anyClient))
	p.mux.HandleFunc("GET "+pathClientPrefix+"{file}", p.clientFile)
	p.mux.HandleFunc("OPTIONS "+pathClientPrefix+"{file}", p.preflight(http.MethodGet, p.pathClient))
	p.mux.HandleFunc("GET "+PathReset, p.resetPage) // GET also answers HEAD
	p.mux.HandleFunc("POST "+PathReset, p.resetSubmit)
	p.mux.HandleFunc("GET "+PathCancel, p.cancelPage)
	p.mux.HandleFunc("POST "+PathCancel, p.cancelSubmit)
	p.mux.HandleFunc("POST "+PathRevoke, p.revoke)
	p.mux.HandleFunc("GET "+PathForgot, p.forgotPage)
	p.mux.HandleFunc("POST "+PathForgot, p.forgotSubmit)
	p.mux.Handle("GET "+pathAssets, http.StripPrefix(pathAssets, p.assets()))
	return p, nil
}

// Owns reports whether path is one of the plugin's: everything else goes on to the
// app behind the proxy. Of /client/, only the files of declared clients are
// the plugin's (Lock's client configuration), so an app's own /client/ paths
// still reach it.
func (p *Public) Owns(path string) bool {
	return path == PathChangePassword || path == PathChallenge || strings.HasPrefix(path, pagesPrefix) ||
		p.ownsClientFile(path)
}

// ServeHTTP serves the plugin's routes. Paths under /lo/ that match no route get a
// 404 page rather than the app's answer, so the plugin's namespace stays its own.
func (p *Public) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := p.mux.Handler(r)
	if p.metrics != nil {
		rec := &outcomeRecorder{statusRecorder: statusRecorder{ResponseWriter: w}}
		defer p.count(rec, pattern)
		w = rec
	}
	if pattern == "" {
		p.noRoute(w, r, h)
		return
	}
	p.mux.ServeHTTP(w, r) // not h: the mux sets the path's wildcards ({file}) for the route
}

// noRoute answers a path that is no route (404), or a route's other method (405,
// with Allow), with a page under the pages' security headers rather than the
// mux's plain text. It asks the mux's own answer which of the two it is, so the
// routes are listed once, in NewPublic.
func (p *Public) noRoute(w http.ResponseWriter, r *http.Request, mux http.Handler) {
	probe := statusProbe{header: http.Header{}}
	mux.ServeHTTP(&probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		p.render(w, http.StatusMethodNotAllowed, templates.PageMessage, templates.PageData{
			Title: "Method Not Allowed", Message: "This page cannot be used that way.", AssetsPath: p.assetsPath,
		})
		return
	}
	p.notFound(w)
}

// notFound is the 404 page, for any path under the plugin's namespace.
func (p *Public) notFound(w http.ResponseWriter) {
	p.render(w, http.StatusNotFound, templates.PageMessage, templates.PageData{
		Title: "Page Not Found", Message: "There is no page at this address.", AssetsPath: p.assetsPath,
	})
}

// statusProbe is a ResponseWriter that keeps only the status and the header.
type statusProbe struct {
	header http.Header
	status int
}

func (s *statusProbe) Header() http.Header         { return s.header }
func (s *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusProbe) WriteHeader(status int)      { s.status = status }

// assets serves the pages' static files, cached an hour; a directory or a file
// that is not there is the pages' 404.
func (p *Public) assets() http.Handler {
	static := templates.Static()
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, err := fs.Stat(static, strings.TrimPrefix(r.URL.Path, "/")); err != nil || info.IsDir() {
			p.notFound(w)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// writeRequestError answers a refused request in Auth0's Authentication API shape.
func (p *Public) writeRequestError(w http.ResponseWriter, err error) { writeAuthError(w, p.log, err) }

// render writes a page with its security headers.
func (p *Public) render(w http.ResponseWriter, status int, name string, data templates.PageData, formTargets ...string) {
	setPageHeaders(w.Header(), formTargets...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if data.AssetsPath == "" {
		data.AssetsPath = "assets" // relative: works under any path prefix
	}
	w.WriteHeader(status)
	if err := p.pages.Render(w, name, data); err != nil {
		p.log.Error("render page", slog.String("page", name), slog.Any("error", err))
	}
}

// lang chooses the language of a page: Auth0's ui_locales (uiLocales, the
// form's, else the query's), then known (the ticket's language, if any), then
// the browser's Accept-Language, then the default.
func (p *Public) lang(r *http.Request, uiLocales, known string) *templates.Lang {
	if uiLocales == "" {
		uiLocales = r.URL.Query().Get("ui_locales")
	}
	return p.svc.Site().Langs().Choose(uiLocales, known, r.Header.Get("Accept-Language"))
}

// uiLocales is a request's ui_locales: the body's field, else the query's.
func uiLocales(r *http.Request, fields map[string]string) string {
	if v := fields["ui_locales"]; v != "" {
		return v
	}
	return r.URL.Query().Get("ui_locales")
}
