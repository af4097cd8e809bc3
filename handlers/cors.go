package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// Cross-origin requests, as Auth0 answers them for an application's Allowed Web
// Origins: a page on another origin (a single-page app using auth0-js or Lock)
// may call the public endpoints when its origin is listed in the client's
// allowed_origins. Same-origin pages and callers that are not browsers (no
// Origin header) need no entry.
//
// The list is enforced, not only advertised: a browser sends a "simple" form
// post across origins without asking first, and reads of the answer are all
// CORS would stop. So a request whose Origin is not allowed is refused with 403
// before it is looked at, and changes nothing: an arbitrary site cannot make its
// visitors' browsers mail-bomb the users.

// corsMaxAge bounds how long a browser reuses a preflight's answer: a removed
// origin stops working within it. Chromium caps it at two hours anyway.
const corsMaxAge = 10 * time.Minute

// The request headers auth0-js sends (Content-Type: application/json, its
// telemetry header, and the language header of changePassword's callers).
const corsAllowHeaders = "Content-Type, Auth0-Client, X-Request-Language"

// corsExposeHeaders lets a page read its own limits and when to retry.
const corsExposeHeaders = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"

// errOriginRefused answers a request from a page whose origin the client does
// not allow. It names no origin and no setting's value: the caller is anonymous.
var errOriginRefused = &fault.Error{
	Kind: fault.Forbidden, Code: "access_denied",
	Message: "this page's origin is not allowed to call this endpoint for the application: " +
		"list it in the client's allowed_origins",
}

// crossOrigin returns the origin of a page on another origin that sent r, and
// whether r came from a browser page on another origin at all. A request with
// no Origin comes from a server, a script or a same-origin navigation, except
// when the browser's own Sec-Fetch-Site says it crossed sites: then it is
// treated as an unknown origin, which nothing allows.
func (p *Public) crossOrigin(r *http.Request) (origin string, cross bool) {
	origin = r.Header.Get("Origin")
	if origin == "" {
		site := r.Header.Get("Sec-Fetch-Site")
		return "", site == "cross-site" || site == "same-site"
	}
	return origin, origin != p.selfOrigin
}

// originAllowed reports whether r may act for client c (nil: the request names
// no known client), and sets the CORS answer headers when it is a listed page
// on another origin. Every answer varies with the Origin header.
func (p *Public) originAllowed(w http.ResponseWriter, r *http.Request, allows func(origin string) bool) bool {
	w.Header().Add("Vary", "Origin")
	origin, cross := p.crossOrigin(r)
	if !cross {
		return true
	}
	if origin == "" || !allows(origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	return true
}

// clientAllows is the allow list of the client a request names.
func (p *Public) clientAllows(clientID string) func(string) bool {
	c, _ := p.svc.Site().Client(clientID)
	return c.AllowsOrigin
}

// anyClientAllows is the allow list for requests that name no client (a
// preflight has no body; the challenge names none): any client's origin.
func (p *Public) anyClientAllows(origin string) bool {
	for _, c := range p.svc.Site().Clients {
		if c.AllowsOrigin(origin) {
			return true
		}
	}
	return false
}

// preflight answers a browser's OPTIONS request before a cross-origin call of
// method: the origin must be allowed by allows and the method must be the
// route's. A refusal carries no CORS header, so the browser does not send the
// call.
func (p *Public) preflight(method string, allows func(r *http.Request) func(string) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
		origin, cross := p.crossOrigin(r)
		if !cross {
			// Not a preflight: say what the route takes.
			h.Set("Allow", method+", OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if origin == "" || !allows(r)(origin) || r.Header.Get("Access-Control-Request-Method") != method {
			writeAuthError(w, p.log, errOriginRefused)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", method)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge/time.Second)))
		w.WriteHeader(http.StatusNoContent)
	}
}

// anyClient is preflight's allow list for the routes whose request names its
// client only in the body.
func (p *Public) anyClient(*http.Request) func(string) bool { return p.anyClientAllows }

// pathClient is preflight's allow list for the routes that name their client
// in the path (/client/{id}.js).
func (p *Public) pathClient(r *http.Request) func(string) bool {
	id, _ := clientFileID(r.PathValue("file"))
	return p.svc.Site().Clients[id].AllowsOrigin
}
