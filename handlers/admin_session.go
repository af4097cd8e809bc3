package handlers

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// adminSessionTTL is how long a dashboard sign-in lasts.
const adminSessionTTL = 8 * time.Hour

type actorKey struct{}

func withActor(ctx context.Context, a admin.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

func actorFrom(ctx context.Context) admin.Actor {
	a, _ := ctx.Value(actorKey{}).(admin.Actor)
	return a
}

type sessionKey struct{}

type dashSession struct {
	id string
	*admin.Session
}

func sessionFrom(ctx context.Context) dashSession {
	s, _ := ctx.Value(sessionKey{}).(dashSession)
	return s
}

func (a *Admin) secureCookies(r *http.Request) bool { return r.TLS != nil }

// The session cookie is scoped to the dashboard's path: cookies do not isolate
// ports, so a cookie for / would also go to any site on the same host name (the
// app, on another port). __Host- requires Path=/, hence __Secure-.
func (a *Admin) sessionCookieName(r *http.Request) string {
	if a.secureCookies(r) {
		return "__Secure-pwreset_admin"
	}
	return "pwreset_admin"
}

// sessionCookiePath is the session cookie's Path.
const sessionCookiePath = adminPagesPath

// AdminCookieNames are the names the dashboard's session cookie may have: the
// public handler removes them from the requests it passes on to the app.
var AdminCookieNames = []string{"pwreset_admin", "__Secure-pwreset_admin", "__Host-pwreset_admin"}

func (a *Admin) binding(r *http.Request) string {
	return admin.SessionBinding(a.cfg.ClientIP(r), r.UserAgent())
}

// serveDashboard serves the pages: the sign-in page and the stylesheet to anyone,
// the rest to a signed-in admin.
func (a *Admin) serveDashboard(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == adminPagesPath:
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	case strings.HasPrefix(r.URL.Path, "/admin/static/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.StripPrefix("/admin/static/", http.FileServerFS(templates.AdminStatic())).ServeHTTP(w, r)
		return
	case r.URL.Path == "/admin/login":
		a.dashLogin(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := a.origin.Check(r); err != nil {
			a.renderAdminMessage(w, http.StatusForbidden, "Refused", "This form was sent from another site.")
			return
		}
	}
	sess, ok := a.dashSession(w, r)
	if !ok {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		a.renderAdminMessage(w, http.StatusUnauthorized, "Signed out", "Your session ended. Sign in again.")
		return
	}
	if _, pattern := a.dash.Handler(r); pattern == "" {
		a.renderAdminMessage(w, http.StatusNotFound, "Not found", "There is no such page.")
		return
	}
	ctx := withActor(r.Context(), admin.Actor{Name: sess.Actor, IP: a.cfg.ClientIP(r)})
	a.dash.ServeHTTP(w, r.WithContext(context.WithValue(ctx, sessionKey{}, sess)))
}

// dashSession returns the request's valid session. A session presented by
// another client than the one it was opened for (a copied cookie) is ended.
// With `token none`, Caddy's authentication in front already let the request
// in: the admin's session for this browser is found or opened.
func (a *Admin) dashSession(w http.ResponseWriter, r *http.Request) (dashSession, bool) {
	binding := a.binding(r)
	if c, err := r.Cookie(a.sessionCookieName(r)); err == nil {
		sess, err := a.svc.SessionByID(r.Context(), c.Value)
		switch {
		case err != nil:
			a.log.Error("read admin session", slog.Any("error", err))
			return dashSession{}, false
		case sess != nil && subtle.ConstantTimeCompare([]byte(sess.Binding), []byte(binding)) != 1:
			a.log.Warn("admin session cookie from another client; session ended", slog.String("ip", a.cfg.ClientIP(r)))
			a.svc.RefuseSession(r.Context(), c.Value, sess, a.cfg.ClientIP(r))
		case sess != nil && a.sessionTokenValid(sess):
			return dashSession{id: c.Value, Session: sess}, true
		}
	}
	if !a.cfg.NoToken || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return dashSession{}, false
	}
	id, sess, err := a.svc.TrustedSession(r.Context(), admin.Actor{Name: a.principal(r), IP: a.cfg.ClientIP(r)}, binding, adminSessionTTL)
	if err != nil {
		a.log.Error("open admin session", slog.Any("error", err))
		return dashSession{}, false
	}
	a.setSessionCookie(w, r, id, time.Until(sess.ExpiresAt))
	return dashSession{id: id, Session: sess}, true
}

// sessionTokenValid: a session outlives neither its token nor a switch between
// tokens and `token none`.
func (a *Admin) sessionTokenValid(sess *admin.Session) bool {
	if a.cfg.NoToken {
		return sess.TokenFingerprint == "none"
	}
	ok := 0
	for _, t := range a.tokens {
		ok |= subtle.ConstantTimeCompare([]byte(t.fingerprint()), []byte(sess.TokenFingerprint))
	}
	return ok == 1
}

func (a *Admin) openSession(w http.ResponseWriter, r *http.Request, actor admin.Actor, fingerprint string) (dashSession, bool) {
	id, sess, err := a.svc.CreateSession(r.Context(), actor, fingerprint, a.binding(r), adminSessionTTL)
	if err != nil {
		a.log.Error("create admin session", slog.Any("error", err))
		return dashSession{}, false
	}
	a.setSessionCookie(w, r, id, adminSessionTTL)
	return dashSession{id: id, Session: sess}, true
}

func (a *Admin) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: a.sessionCookieName(r), Value: id, Path: sessionCookiePath, MaxAge: max(int(ttl/time.Second), 1),
		HttpOnly: true, Secure: a.secureCookies(r), SameSite: http.SameSiteStrictMode,
	})
}

var loginFields = fieldSpec{allowed: []string{"_csrf", "token", "username"}}

// dashLogin shows the sign-in form and signs in with an admin token. The token is
// posted in the form's body, never put in a URL, and exchanged for an HttpOnly,
// SameSite=Strict session cookie.
func (a *Admin) dashLogin(w http.ResponseWriter, r *http.Request) {
	cs := csrf{secure: a.secureCookies(r)}
	page := adminPage{Title: "Sign in", NoForm: true}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if a.cfg.NoToken {
			http.Redirect(w, r, "/admin/", http.StatusSeeOther)
			return
		}
		page.CSRF = cs.token(w, r)
		a.renderAdmin(w, http.StatusOK, templates.AdminLogin, page)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		a.renderAdminMessage(w, http.StatusMethodNotAllowed, "Not allowed", "This page takes GET and POST.")
		return
	}
	fields, err := readFields(r, maxRequestBody, loginFields)
	if err != nil {
		a.renderAdminMessage(w, requestStatus(err), "Please try again", "The form could not be read.")
		return
	}
	if err := a.origin.Check(r); err != nil || !cs.check(r, fields["_csrf"]) {
		a.renderAdminMessage(w, http.StatusForbidden, "Please try again",
			"Your session expired or the form was sent from another site. Reload the sign-in page and try again.")
		return
	}
	ip := a.cfg.ClientIP(r)
	t, ok := a.checkToken(fields["token"])
	if !ok || a.cfg.NoToken {
		if d, limited := a.wrongToken(r, ip); limited {
			setRateLimitHeaders(w.Header(), d)
			a.renderAdminMessage(w, http.StatusTooManyRequests, "Please wait",
				"Too many wrong tokens from this address. Wait a minute before trying again.")
			return
		}
		a.log.Warn("dashboard sign-in with a wrong token", slog.String("ip", ip))
		page.CSRF, page.Error = cs.token(w, r), "That token is not valid."
		a.renderAdmin(w, http.StatusUnauthorized, templates.AdminLogin, page)
		return
	}
	if _, ok := a.openSession(w, r, admin.Actor{Name: t.name, IP: a.cfg.ClientIP(r)}, t.fingerprint()); !ok {
		a.renderAdminMessage(w, http.StatusServiceUnavailable, "Please try again", "The store cannot take the sign-in right now.")
		return
	}
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}
