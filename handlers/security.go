package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// setPageHeaders sends the headers every page of the plugin carries. The CSP allows
// the plugin's own stylesheet and scripts (the reset page's live rules) and
// nothing else: no inline script, no eval, no third-party origin that could see
// a ticket. formTargets are extra origins a form may be redirected to after its
// POST (the result URL), which browsers check against form-action.
func setPageHeaders(h http.Header, formTargets ...string) {
	formAction := "'self'"
	for _, t := range formTargets {
		if t != "" {
			formAction += " " + t
		}
	}
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action "+formAction+
		"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// origin returns the scheme://host of u, or "" if u is not an absolute http(s) URL.
func origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// csrf is a double-submit token: a random value in a SameSite=Strict, HttpOnly
// cookie that the form must repeat. A cross-site page can make the browser send the
// cookie with a form post only from the same site, and it cannot read the value to
// put it in the form.
type csrf struct {
	secure bool // the public URL is https: the cookie is Secure and __Host- prefixed
}

func (c csrf) cookieName() string {
	if c.secure {
		return "__Host-pwreset_csrf"
	}
	return "pwreset_csrf"
}

// csrfCookieLife is how long a CSRF token lives after the last page that put it
// in a form: longer than the reset form's ticket cookie (ticketCookieLife), so a
// form sent while its ticket's cookie lives is not refused for its token.
const csrfCookieLife = time.Hour

// token returns the request's CSRF token, setting a new cookie if it has none, so
// that two open tabs share one token. An existing token's cookie is set again:
// its life starts anew with each form that carries it.
func (c csrf) token(w http.ResponseWriter, r *http.Request) string {
	tok := rand.Text()
	if ck, err := r.Cookie(c.cookieName()); err == nil && validToken(ck.Value) {
		tok = ck.Value
	}
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(), Value: tok, Path: "/", MaxAge: int(csrfCookieLife / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// check compares the form's token with the cookie's in constant time.
func (c csrf) check(r *http.Request, formToken string) bool {
	ck, err := r.Cookie(c.cookieName())
	if err != nil || !validToken(ck.Value) || !validToken(formToken) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(formToken)) == 1
}

// validToken accepts what rand.Text makes: 26 base32 characters.
func validToken(s string) bool {
	return len(s) == 26 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == ""
}
