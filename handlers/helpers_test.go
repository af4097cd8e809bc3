package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// The helpers of the handler tests beyond env_test.go's: requests with any
// method and body, the two Auth0 error shapes, the admin handler over a stack,
// a change_password hook held at a gate, and an SMTP relay that refuses mail.

// newRequest is a request with body of contentType ("" sends none).
func newRequest(t *testing.T, method, rawURL, contentType, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// send sends body of contentType to rawURL with cookies.
func send(t *testing.T, method, rawURL, contentType, body string, cookies ...*http.Cookie) fetched {
	t.Helper()
	req := newRequest(t, method, rawURL, contentType, body)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return fetch(t, req)
}

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// decodeJSON decodes an answer's JSON body into v, checking that it says it is
// JSON and is not cached.
func decodeJSON(t *testing.T, what string, got fetched, v any) {
	t.Helper()
	if ct := got.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	if cc := got.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	if err := json.Unmarshal([]byte(got.body), v); err != nil {
		t.Fatalf("%s: %d %q is not JSON: %v", what, got.StatusCode, got.body, err)
	}
}

// wantAuthError checks an answer in the Authentication API's shape
// {error, error_description}: its status, code and a part of its description.
func wantAuthError(t *testing.T, what string, got fetched, status int, code, description string) {
	t.Helper()
	if e := errorBody(t, what, got, status); len(e) != 2 || e["error"] != code || !strings.Contains(str(e["error_description"]), description) {
		t.Errorf("%s: body %s, want {error: %q, error_description: ...%q...}", what, got.body, code, description)
	}
}

// wantMgmtError checks an answer in the Management API's shape {statusCode,
// error, message, errorCode}: its status (repeated in the body with its text),
// code and a part of its message.
func wantMgmtError(t *testing.T, what string, got fetched, status int, code, message string) {
	t.Helper()
	if e := errorBody(t, what, got, status); len(e) != 4 || e["statusCode"] != float64(status) || e["error"] != http.StatusText(status) ||
		e["errorCode"] != code || !strings.Contains(str(e["message"]), message) {
		t.Errorf("%s: body %s, want {statusCode: %d, error: %q, message: ...%q..., errorCode: %q}",
			what, got.body, status, http.StatusText(status), message, code)
	}
}

// errorBody checks an error answer's status and returns its JSON body.
func errorBody(t *testing.T, what string, got fetched, status int) map[string]any {
	t.Helper()
	if got.StatusCode != status {
		t.Errorf("%s: status %d, want %d\n%s", what, got.StatusCode, status, got.body)
	}
	var e map[string]any
	decodeJSON(t, what, got, &e)
	return e
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// wantPage checks an HTML page: its status, that it carries the pages'
// security headers, and that it holds each of texts.
func wantPage(t *testing.T, what string, got fetched, status int, texts ...string) {
	t.Helper()
	if got.StatusCode != status {
		t.Errorf("%s: status %d, want %d\n%s", what, got.StatusCode, status, got.body)
	}
	for h, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
	} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("%s: %s %q, want %q", what, h, v, want)
		}
	}
	if csp := got.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy %q", what, csp)
	}
	for _, text := range texts {
		if !strings.Contains(got.body, text) {
			t.Errorf("%s: the page lacks %q\n%s", what, text, got.body)
		}
	}
}

// setCookie returns the cookie named name that got sets, nil if none.
func setCookie(got fetched, name string) *http.Cookie {
	i := slices.IndexFunc(got.Cookies(), func(c *http.Cookie) bool { return c.Name == name })
	if i < 0 {
		return nil
	}
	return got.Cookies()[i]
}

// tokenOf returns the ticket in a reset link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	return testenv.Ticket(t, link)
}

// ticketFor creates a ticket for email (as an admin does: no email) that lives
// ttl, with req's other fields, and returns its link.
func (env *pageEnv) ticketFor(t *testing.T, email string, ttl time.Duration, req admin.TicketRequest) string {
	t.Helper()
	req.Email, req.ConnectionID, req.TTL = email, pageConn, ttl
	issued, err := env.admin.CreateTicket(context.Background(), admin.Actor{Name: "test"}, req)
	if err != nil {
		t.Fatal(err)
	}
	return issued.URL
}

// withFields returns v with the fields of pairs (name, value, name, value...)
// set.
func withFields(v url.Values, pairs ...string) url.Values {
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Set(pairs[i], pairs[i+1])
	}
	return v
}

// formCase is a form posted with cookies and the page it must get.
type formCase struct {
	name    string
	form    url.Values
	cookies []*http.Cookie
	status  int
	texts   []string
}

// wantForms posts each case's form to path and checks its page.
func (env *pageEnv) wantForms(t *testing.T, path string, cases []formCase) {
	t.Helper()
	for _, tt := range cases {
		wantPage(t, tt.name, env.post(t, env.url+path, tt.form, tt.cookies...), tt.status, tt.texts...)
	}
}

// policyGood is the connections' usual policy.
var policyGood = policy.Policy{Level: policy.LevelGood}

// withLimits turns the default rate limits on (newPageEnv has none).
func withLimits(c *service.Config) { c.Limits = reset.DefaultLimits() }

// adminSecret is the admin token of the tests: 128 bits in 32 hex digits.
const (
	adminTokenName = "ops"
	adminSecret    = "5f0c1e9a7b3d2c4e8a6f1b0d9c7e3a25"
)

// adminEnv is the admin handler over real HTTP, on a stack of real parts.
type adminEnv struct {
	*testenv.Stack
	url string
}

// newAdminEnv serves handlers.NewAdmin over a new stack; opts change the stack's
// configuration.
func newAdminEnv(t *testing.T, cfg AdminConfig, opts ...func(*service.Config)) *adminEnv {
	t.Helper()
	return serveAdmin(t, testenv.NewStack(t, opts...), cfg)
}

// serveAdmin serves the admin handler of st with cfg: without tokens and
// without NoToken, the token ops; without ClientIP, the host part of the
// client's address, as Caddy gives it.
func serveAdmin(t *testing.T, st *testenv.Stack, cfg AdminConfig) *adminEnv {
	t.Helper()
	if len(cfg.Tokens) == 0 && !cfg.NoToken {
		cfg.Tokens = []AdminToken{{Name: adminTokenName, Secret: adminSecret}}
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteHost
	}
	h, err := NewAdmin(st.Admin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &adminEnv{Stack: st, url: srv.URL}
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// api calls the Management API with the token ops.
func (a *adminEnv) api(t *testing.T, method, path, body string) fetched {
	t.Helper()
	return a.apiAs(t, "Bearer "+adminSecret, method, path, body)
}

// apiAs calls the Management API with the Authorization header authorization
// ("" sends none).
func (a *adminEnv) apiAs(t *testing.T, authorization, method, path, body string) fetched {
	t.Helper()
	ct := ""
	if body != "" {
		ct = ctJSON
	}
	req := newRequest(t, method, a.url+path, ct, body)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return fetch(t, req)
}

// apiRaw calls the Management API with the token ops and a body of any
// Content-Type.
func (a *adminEnv) apiRaw(t *testing.T, method, path, contentType, body string) fetched {
	t.Helper()
	req := newRequest(t, method, a.url+path, contentType, body)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	return fetch(t, req)
}

// browse sends a dashboard request as a browser with userAgent: a GET, or a
// POST of form when form is not nil.
func (a *adminEnv) browse(t *testing.T, userAgent, path string, form url.Values, cookies ...*http.Cookie) fetched {
	t.Helper()
	req := newRequest(t, http.MethodGet, a.url+path, "", "")
	if form != nil {
		req = newRequest(t, http.MethodPost, a.url+path, ctForm, form.Encode())
	}
	req.Header.Set("User-Agent", userAgent)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return fetch(t, req)
}

// signIn signs in to the dashboard with secret as userAgent and returns the
// session cookie.
func (a *adminEnv) signIn(t *testing.T, userAgent, secret string) *http.Cookie {
	t.Helper()
	login := a.browse(t, userAgent, "/admin/login", nil)
	got := a.browse(t, userAgent, "/admin/login", url.Values{
		"_csrf": {hiddenField(t, login.body, "_csrf")}, "username": {"admin"}, "token": {secret},
	}, login.cookie(t, "pwreset_csrf"))
	if got.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", got.StatusCode, got.body)
	}
	return got.cookie(t, "pwreset_admin")
}

// auditHas reports whether the audit log holds an entry of type typ by actor.
func auditHas(t *testing.T, a *admin.Service, typ, actor string) bool {
	t.Helper()
	entries, _, err := a.AuditLog(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(entries, func(e admin.AuditEntry) bool { return e.Type == typ && e.Actor == actor })
}

// hookGate holds the change_password calls of a connection's real directory
// until released, so that a test can act while a reset is in flight.
type hookGate struct {
	users.Directory
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// gateChangePassword puts a gate in front of the test connection's directory.
// The caller opens it in a cleanup registered after the server's, so that a
// failed test does not leave the server waiting for a held call.
func gateChangePassword() (*hookGate, func(*service.Config)) {
	g := &hookGate{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	return g, func(c *service.Config) {
		conn := c.Site.Connections[pageConn]
		g.Directory, conn.Users = conn.Users, g
	}
}

func (g *hookGate) ChangePassword(ctx context.Context, req users.ChangeRequest) error {
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	<-g.release
	return g.Directory.ChangePassword(ctx, req)
}

// open lets every held call through.
func (g *hookGate) open() { g.once.Do(func() { close(g.release) }) }

// wait waits for a change_password call to arrive at the gate.
func (g *hookGate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(testenv.Timeout):
		t.Fatal("the change_password call never arrived")
	}
}

// startRefusingRelay starts testenv's SMTP sink refusing every recipient: with
// 451 (try again later) those in temporary, with 550 (for good) the others.
func startRefusingRelay(t *testing.T, temporary ...string) string {
	t.Helper()
	return testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(to string) error {
		if slices.Contains(temporary, to) {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox: " + to}
	}}).Addr
}
