package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const (
	adminPort  = 9081
	adminBase  = "http://localhost:9081"
	guardPort  = 9082 // basic_auth in front, `token none`
	guardBase  = "http://localhost:9082"
	adminTLS   = "localhost:9444" // tls internal, for the auth0 npm client
	adminToken = "e2e-admin-token-0123456789abcdef"
	ciToken    = "e2e-ci-token-fedcba9876543210xyz"
	guardUser  = "ops-alice"
	guardPass  = "basic-auth-password-1"
)

func init() {
	os.Setenv("E2E_ADMIN_TOKEN", adminToken)
	os.Setenv("E2E_CI_TOKEN", ciToken)
}

// adminStack is the stack with the admin routes on their own sites: one guarded
// by the handler's tokens, one by Caddy's basic_auth with `token none`, and one
// over HTTPS with Caddy's internal CA.
type adminStack struct {
	*stack
	admin *http.Client // a cookie jar of its own, no redirects followed
}

func newAdminStack(t *testing.T, options string) *adminStack {
	t.Helper()
	s := &stack{options: options}
	s.start(t)
	as := &adminStack{stack: s, admin: jarClient()}
	as.load()
	return as
}

var guardHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(guardPass), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func (as *adminStack) adminSites() string {
	return fmt.Sprintf(`
:%d {
	password_reset_admin {
		token ops {env.E2E_ADMIN_TOKEN}
		token ci {env.E2E_CI_TOKEN}
	}
	respond "not an admin route" 404
}

:%d {
	basic_auth {
		%s %s
	}
	password_reset_admin {
		token none
	}
	respond 404
}

https://%s {
	tls internal
	password_reset_admin {
		token ops {env.E2E_ADMIN_TOKEN}
	}
}
`, adminPort, guardPort, guardUser, guardHash, adminTLS)
}

func (as *adminStack) load() {
	as.t.Helper()
	// No HTTP->HTTPS redirects for the https admin site's host: the public
	// site on http://localhost:9080 must stay plain HTTP.
	cfg := strings.Replace(as.caddyfile(), "\tskip_install_trust\n", "\tskip_install_trust\n\tauto_https disable_redirects\n", 1)
	as.tester.InitServer(cfg+as.adminSites(), "caddyfile")
	if as.t.Failed() {
		as.t.FailNow()
	}
}

// caRoot is the root certificate of Caddy's internal CA, which signs the
// https admin site's certificate.
func (as *adminStack) caRoot() string {
	return filepath.Join(as.dir, "caddy", "pki", "authorities", "local", "root.crt")
}

// api calls the Management API with token ("" for none) and returns the status,
// the headers and the body.
func (as *adminStack) api(method, path, token, body string, header ...string) (*http.Response, string) {
	as.t.Helper()
	req, err := http.NewRequest(method, adminBase+path, strings.NewReader(body))
	if err != nil {
		as.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testenv.NoRedirects().Do(req)
	if err != nil {
		as.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		as.t.Fatal(err)
	}
	return resp, string(data)
}

// apiOK calls the API with the ops token, wants status and decodes the answer.
func (as *adminStack) apiOK(method, path, body string, status int, out any) {
	as.t.Helper()
	resp, text := as.api(method, path, adminToken, body)
	if resp.StatusCode != status {
		as.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, text)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			as.t.Fatalf("%s %s: %v in %s", method, path, err, text)
		}
	}
}

// mgmtError is Auth0's Management API error body.
type mgmtError struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
	ErrorCode  string `json:"errorCode"`
}

// apiErr calls the API and checks that it answers status in Auth0's error shape,
// with a message containing mention.
func (as *adminStack) apiErr(method, path, token, body string, status int, code, mention string) mgmtError {
	as.t.Helper()
	resp, text := as.api(method, path, token, body)
	var e mgmtError
	if err := json.Unmarshal([]byte(text), &e); err != nil {
		as.t.Fatalf("%s %s: not Auth0's error shape: %d %q", method, path, resp.StatusCode, text)
	}
	if resp.StatusCode != status || e.StatusCode != status || e.Error != http.StatusText(status) ||
		(code != "" && e.ErrorCode != code) || !strings.Contains(e.Message, mention) {
		as.t.Errorf("%s %s: %d %+v; want %d, code %q, message mentioning %q", method, path, resp.StatusCode, e, status, code, mention)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		as.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return e
}

// auditTypes returns the types of the newest audit entries, newest first.
func (as *adminStack) audit() []auditEntry {
	as.t.Helper()
	var entries []auditEntry
	for _, e := range as.auditAll() {
		if !recordOnly[e.Type] {
			entries = append(entries, e)
		}
	}
	return entries
}

// recordOnly are the entry types that record a call or a request in addition to the
// entry of what it changed (Auth0's sapi / fapi for each Management API write,
// scpr / fcpr for each reset request's outcome): audit leaves them out.
var recordOnly = map[string]bool{"sapi": true, "fapi": true, "scpr": true, "fcpr": true}

// auditAll returns the newest 100 entries of the audit log, of every type.
func (as *adminStack) auditAll() []auditEntry {
	as.t.Helper()
	var entries []auditEntry
	as.apiOK("GET", "/api/v2/logs?per_page=100", "", 200, &entries)
	return entries
}

type auditEntry struct {
	ID          string `json:"log_id"`
	Date        string `json:"date"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Actor       string `json:"actor"`
	IP          string `json:"ip"`
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
	Connection  string `json:"connection"`
	Target      string `json:"target"`
}
