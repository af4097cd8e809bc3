package demoapp

import (
	_ "embed"
	"html/template"
	"net/http"
	"net/url"
)

//go:embed pages.html
var pagesHTML string

//go:embed demo.css
var demoCSS []byte

var pages = template.Must(template.New("pages").Parse(pagesHTML))

// forgotURL is the plugin's "forgot your password?" page for this app, served by
// Caddy on the same origin.
var forgotURL = "/lo/forgot?" + url.Values{
	"client_id":  {ClientID},
	"connection": {Connection},
}.Encode()

// maxFormBytes bounds the login form's body.
const maxFormBytes = 16 << 10

// routes builds the app's handler. Pages get security headers and Go's
// cross-origin protection (a forged cross-site POST to /login, /logout or the
// change-password page is refused); the hooks are called server to server and carry their own signature.
func (a *App) routes() http.Handler {
	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", a.home)
	pages.HandleFunc("GET /login", a.loginForm)
	pages.HandleFunc("POST /login", a.login)
	pages.HandleFunc("POST /logout", a.logout)
	pages.HandleFunc("GET "+PathChangePassword, a.passwordForm)
	pages.HandleFunc("POST "+PathChangePassword, a.changeOwnPassword)
	pages.HandleFunc("GET /demo.css", serveCSS)

	mux := http.NewServeMux()
	mux.Handle("/", securityHeaders(http.NewCrossOriginProtection().Handler(pages)))
	mux.HandleFunc("POST /internal/users/lookup", a.lookupUser)
	mux.HandleFunc("POST /internal/users/password", a.changePassword)
	return mux
}

// securityHeaders sets the headers every page carries: a CSP that allows only the
// app's own stylesheet (no script at all), no framing, no referrer (the login page
// may carry an email in its query), and no caching of per-user pages.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy",
			"default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(demoCSS)
}

// homeData fills the "home" template.
type homeData struct {
	Name, Email string // empty when signed out
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	var d homeData
	if acc, ok := a.currentUser(r); ok {
		d = homeData{Name: acc.user.Name, Email: acc.user.Email}
	}
	a.render(w, http.StatusOK, "home", d)
}

// loginData fills the "login" template.
type loginData struct {
	Email     string
	Error     string
	Banner    string // Auth0's message after a reset
	BannerOK  bool   // Auth0's success parameter
	ForgotURL string
}

func (a *App) loginForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := loginData{
		Email:     q.Get("email"),
		Banner:    q.Get("message"),
		BannerOK:  q.Get("success") == "true",
		ForgotURL: forgotURL,
	}
	if d.Banner == "" && q.Has("success") {
		d.Banner = "Your password could not be changed."
		if d.BannerOK {
			d.Banner = "Your password has been changed."
		}
	}
	a.render(w, http.StatusOK, "login", d)
}

// login checks the form's email and password. A wrong password, an unknown email
// and a blocked user get the same answer, in about the same time.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	email, password := r.PostForm.Get("email"), r.PostForm.Get("password")
	acc, known := a.userByEmail(email)
	if !known {
		acc.hash = dummyHash()
	}
	if !verifyPassword(acc.hash, password) || !known || acc.user.Blocked {
		a.render(w, http.StatusOK, "login", loginData{
			Email: email, Error: "Wrong email or password.", ForgotURL: forgotURL,
		})
		return
	}
	a.endSession(w, r) // a fresh token on every login: no session fixation
	a.startSession(w, r, acc.user.UserID)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	a.endSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// render executes the named page template. The status line is already sent when
// an error occurs (a client gone away, most likely), so it is only logged.
func (a *App) render(w http.ResponseWriter, code int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		a.log.Warn("render page", "page", name, "error", err)
	}
}
