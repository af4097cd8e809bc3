package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// The admin routes: Auth0's Management API paths and the dashboard.
const (
	adminAPIPrefix  = "/api/v2/"
	adminPagesPath  = "/admin"
	adminPagePrefix = "/admin/"
)

// AdminToken is a bearer token for the admin routes. Name appears in the audit log.
type AdminToken struct {
	Name   string
	Secret string
}

// AdminConfig configures the admin handler.
type AdminConfig struct {
	// Tokens are the accepted bearer tokens. Without any, NoToken must be set.
	Tokens []AdminToken
	// NoToken trusts the authentication in front of the handler (Caddy's
	// basic_auth or forward_auth): every request that reaches it is an admin's.
	NoToken bool
	// ClientIP returns the client's address as the server trusts it; nil means
	// RemoteAddr.
	ClientIP func(*http.Request) string
	// Principal returns the user Caddy's own authentication let in, "" if none;
	// with NoToken it names the actor in the audit log.
	Principal func(*http.Request) string
	// SMTPConfigured is false when mail goes to the default 127.0.0.1:25: the
	// dashboard says that custom templates need an SMTP server of your own.
	SMTPConfigured bool
	// EmailProvider is the SMTP relay GET /api/v2/emails/provider shows; nil
	// answers 404, as Auth0 does without one.
	EmailProvider *EmailProvider
	Logger        *slog.Logger
}

type adminToken struct {
	name string
	hash [sha256.Size]byte
}

// Admin serves the Management API and the dashboard.
type Admin struct {
	svc      *admin.Service
	cfg      AdminConfig
	tokens   []adminToken
	log      *slog.Logger
	pages    *templates.AdminPages
	api      *http.ServeMux
	dash     *http.ServeMux
	origin   *http.CrossOriginProtection
	previews previewCache
}

// MinAdminTokenBits is the least randomness an admin token must show. With 128
// bits no guessing is feasible, so a wrong token is never a near miss and the
// right one needs no protection from lockouts.
const MinAdminTokenBits = 128

// NewAdmin returns the admin handler. It refuses a configuration without a token
// unless NoToken says that something in front authenticates: an open admin API
// would let anyone set any password.
func NewAdmin(svc *admin.Service, cfg AdminConfig) (*Admin, error) {
	if len(cfg.Tokens) == 0 && !cfg.NoToken {
		return nil, errors.New("password_reset_admin needs a token (token <name> <secret>), " +
			"or `token none` when Caddy's basic_auth or forward_auth guards the routes in front of it")
	}
	if len(cfg.Tokens) > 0 && cfg.NoToken {
		return nil, errors.New("password_reset_admin: `token none` cannot be combined with tokens")
	}
	a := &Admin{svc: svc, cfg: cfg, log: cfg.Logger, origin: http.NewCrossOriginProtection()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.cfg.ClientIP == nil {
		a.cfg.ClientIP = RemoteIP
	}
	if a.cfg.Principal == nil {
		a.cfg.Principal = func(*http.Request) string { return "" }
	}
	seen := map[string]bool{}
	for _, t := range cfg.Tokens {
		switch {
		case t.Name == "" || strings.ContainsAny(t.Name, " \t\r\n"):
			return nil, errors.New("password_reset_admin: a token needs a name without spaces")
		case seen[t.Name]:
			return nil, errors.New("password_reset_admin: token " + t.Name + " is declared twice")
		case t.Secret == "":
			return nil, errors.New("password_reset_admin: token " + t.Name + " is empty: is the environment variable set?")
		case tokenBits(t.Secret) < MinAdminTokenBits:
			return nil, fmt.Errorf("password_reset_admin: token %s is too weak (about %d bits): use at least %d random bits, "+
				"such as 32 hex digits from `openssl rand -hex 16`", t.Name, int(tokenBits(t.Secret)), MinAdminTokenBits)
		}
		seen[t.Name] = true
		a.tokens = append(a.tokens, adminToken{name: t.Name, hash: sha256.Sum256([]byte(t.Secret))})
	}
	pages, err := templates.LoadAdminPages()
	if err != nil {
		return nil, err
	}
	a.pages = pages
	a.api = a.apiRoutes()
	a.dash = a.dashboardRoutes()
	return a, nil
}

// OwnsAdmin reports whether path is an admin route: everything else goes on to the
// next handler.
func OwnsAdmin(path string) bool {
	return strings.HasPrefix(path, adminAPIPrefix) || path == adminPagesPath || strings.HasPrefix(path, adminPagePrefix)
}

// ServeHTTP serves the admin routes.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if tokenInQuery(r) {
		// A token in a URL ends up in access logs, proxies and browser history.
		if strings.HasPrefix(r.URL.Path, adminAPIPrefix) {
			writeMgmtError(w, http.StatusBadRequest, "token_in_query",
				"A token in the query string is refused: send it in the Authorization header (Bearer)")
		} else {
			a.renderAdminMessage(w, http.StatusBadRequest, "Token in the address",
				"A token in the address is refused: it would end up in logs and in the browser's history. Sign in with the form instead.")
		}
		return
	}
	if strings.HasPrefix(r.URL.Path, adminAPIPrefix) {
		a.serveAPI(w, r)
		return
	}
	a.serveDashboard(w, r)
}

// tokenInQuery reports whether the URL carries something that looks like a token.
func tokenInQuery(r *http.Request) bool {
	for name := range r.URL.Query() {
		switch strings.ToLower(name) {
		case "access_token", "token", "bearer", "api_key", "apikey":
			return true
		}
	}
	return false
}

// checkToken returns the name of the configured token equal to presented. Every
// token is compared, in constant time over their hashes, so the time taken says
// nothing about which token came close.
func (a *Admin) checkToken(presented string) (adminToken, bool) {
	sum := sha256.Sum256([]byte(presented))
	var found adminToken
	ok := 0
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.hash[:]) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}

// fingerprint identifies a token in a session record without its hash.
func (t adminToken) fingerprint() string {
	sum := sha256.Sum256(append([]byte("session\x00"), t.hash[:]...))
	return hex.EncodeToString(sum[:])
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// apiActor authenticates an API call and returns who makes it.
func (a *Admin) apiActor(w http.ResponseWriter, r *http.Request) (admin.Actor, bool) {
	actor := admin.Actor{IP: a.cfg.ClientIP(r)}
	if a.cfg.NoToken {
		actor.Name = a.principal(r)
		return actor, true
	}
	tok, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="password-reset-admin"`)
		writeMgmtError(w, http.StatusUnauthorized, "missing_token", "Missing authentication: send Authorization: Bearer <token>")
		return actor, false
	}
	// The token is checked first: wrong tokens from an address (or a NAT's) must
	// not lock the right one out.
	t, ok := a.checkToken(tok)
	if !ok {
		if d, limited := a.wrongToken(r, actor.IP); limited {
			setRateLimitHeaders(w.Header(), d)
			writeMgmtError(w, http.StatusTooManyRequests, "too_many_requests", "Too many wrong tokens from this address; wait before trying again")
			return actor, false
		}
		a.log.Warn("admin API call with a wrong token", slog.String("ip", actor.IP))
		w.Header().Set("WWW-Authenticate", `Bearer realm="password-reset-admin", error="invalid_token"`)
		writeMgmtError(w, http.StatusUnauthorized, "invalid_token", "Invalid token")
		return actor, false
	}
	actor.Name = t.name
	return actor, true
}

// wrongToken counts a wrong token from ip, unless ip has used up its failures:
// then it reports the limit (and counts nothing more).
func (a *Admin) wrongToken(r *http.Request, ip string) (reset.RateInfo, bool) {
	return a.svc.WrongToken(r.Context(), ip)
}

// tokenBits estimates the randomness of a token from its length and the
// alphabet it draws on: hex digits 4 bits each, base32 5, otherwise the
// character classes it uses. It cannot see every pattern, only refuse the
// obvious: a token of fewer than 10 distinct characters counts for nothing.
func tokenBits(s string) float64 {
	distinct := map[rune]bool{}
	var lower, upper, digit, other bool
	for _, r := range s {
		distinct[r] = true
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		default:
			other = true
		}
	}
	if len(distinct) < 10 {
		return 0
	}
	alphabet := 0
	switch {
	case strings.Trim(s, "0123456789abcdef") == "" || strings.Trim(s, "0123456789ABCDEF") == "":
		alphabet = 16
	case strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=") == "":
		alphabet = 32
	default:
		for _, c := range []struct {
			used bool
			size int
		}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
			if c.used {
				alphabet += c.size
			}
		}
	}
	return float64(utf8.RuneCountInString(s)) * math.Log2(float64(alphabet))
}

func (a *Admin) principal(r *http.Request) string {
	if p := a.cfg.Principal(r); p != "" {
		return p
	}
	return "caddy-auth"
}

// previewCache keeps rendered previews for the dashboard's preview frame for a
// few minutes, by random id and session: the frame loads them with a GET.
type previewCache struct {
	mu    sync.Mutex
	items map[string]previewItem
	order []string
}

type previewItem struct {
	session string
	html    string
}

const maxPreviews = 64

func (c *previewCache) put(id, session, html string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[string]previewItem{}
	}
	c.items[id] = previewItem{session: session, html: html}
	c.order = append(c.order, id)
	for len(c.order) > maxPreviews {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *previewCache) get(id, session string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[id]
	if !ok || subtle.ConstantTimeCompare([]byte(it.session), []byte(session)) != 1 {
		return "", false
	}
	return it.html, true
}
