// Package e2e tests the plugin inside Caddy with the real parts around it: Caddy
// itself (caddytest runs it in-process and loads configs through its admin API),
// the demo app over HTTP, a real SMTP server, and headless Chromium for the pages.
// caddytest runs one Caddy per test binary on fixed ports, so these tests are
// serial and live in this one package.
package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-password-reset/caddy-password-reset/caddymodule"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const (
	httpPort = 9080
	base     = "http://localhost:9080"
	conn     = "Username-Password-Authentication"
)

// stack is Caddy with the plugin in front of the demo app, mailing to a catcher.
type stack struct {
	t      *testing.T
	tester *caddytest.Tester
	app    *testenv.App
	box    *testenv.Mailbox
	// relay, if set, is the SMTP server the plugin mails to instead of box's.
	relay string
	dir   string
	// options are extra lines in the global password_reset block; global are
	// extra global options; site are extra lines in the :9080 site.
	options, global, site string
	// users is the connection's user store, a Caddyfile block; empty: the demo
	// app's hooks (upstream).
	users string
}

func newStack(t *testing.T, options string) *stack {
	t.Helper()
	return startStack(t, &stack{options: options})
}

// startStack starts s, whose options, global and site may be set.
func startStack(t *testing.T, s *stack) *stack {
	t.Helper()
	s.start(t)
	s.load()
	return s
}

// start sets s's parts up: Caddy in process (the tester, its client following no
// redirects), the demo app, a mail catcher unless s mails elsewhere (box or relay
// set), a directory. Nothing is loaded yet.
func (s *stack) start(t *testing.T) {
	t.Helper()
	s.t, s.tester, s.app = t, caddytest.NewTester(t), testenv.StartApp(t)
	if s.box == nil && s.relay == "" {
		s.box = testenv.StartMailbox(t)
	}
	s.dir = t.TempDir()
	s.tester.Client.CheckRedirect = testenv.NoRedirects().CheckRedirect
	// Unload the config before t.TempDir removes the store's directory: cleanups
	// run last-registered first.
	t.Cleanup(func() { s.tester.InitServer("{\n\tadmin localhost:2999\n}\n", "caddyfile") })
}

// smtpAddr is where the plugin mails to.
func (s *stack) smtpAddr() string {
	if s.relay != "" {
		return s.relay
	}
	return s.box.Addr
}

func (s *stack) caddyfile() string {
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port %d
	https_port 9443
	skip_install_trust
	persist_config off
	storage file_system %s
%s
	password_reset {
		public_url %s
		storage badger %s
		friendly_name "Example"
		smtp %s {
			plain
			from "Example <no-reply@example.com>"
		}
		connection %s {
			%s
			password_policy good
		}
		connection google-oauth2 social
		client demo-app {
			name "Demo App"
			result_url %s/login
		}
%s
	}
}

:%d {
	password_reset
%s
	reverse_proxy %s
}
`, httpPort, filepath.Join(s.dir, "caddy"), s.global, base, filepath.Join(s.dir, "store"), s.smtpAddr(), conn,
		s.usersBlock(), base, s.options, httpPort, s.site, strings.TrimPrefix(s.app.URL, "http://"))
}

func (s *stack) usersBlock() string {
	if s.users != "" {
		return s.users
	}
	return "upstream " + s.app.URL + " {\n\t\t\t\tsecret {env.E2E_HOOK_SECRET}\n\t\t\t}"
}

func (s *stack) load() {
	s.t.Helper()
	s.tester.InitServer(s.caddyfile(), "caddyfile")
	if s.t.Failed() {
		s.t.FailNow()
	}
}

func init() {
	// The hook secret reaches the Caddyfile as a placeholder, as operators are
	// told to do.
	os.Setenv("E2E_HOOK_SECRET", testenv.HookSecret)
}

// service returns the running config's services.
func (s *stack) service() *service.Services {
	s.t.Helper()
	mod, err := caddy.ActiveContext().App("password_reset")
	if err != nil {
		s.t.Fatal(err)
	}
	svc, err := mod.(*caddymodule.App).Services()
	if err != nil {
		s.t.Fatal(err)
	}
	return svc
}

// do sends a request through Caddy with the tester's client (and its cookie jar).
func (s *stack) do(method, path, contentType, body string, header ...string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.tester.Client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, string(data)
}

// requestReset posts Auth0's JSON request for email and checks Auth0's answer.
func (s *stack) requestReset(email string, header ...string) {
	s.t.Helper()
	body := fmt.Sprintf(`{"client_id":"demo-app","email":%q,"connection":%q}`, email, conn)
	resp, text := s.do("POST", "/dbconnections/change_password", "application/json", body, header...)
	if resp.StatusCode != 200 || text != "We've just sent you an email to reset your password." {
		s.t.Fatalf("change_password: %d %q", resp.StatusCode, text)
	}
}

// resetLink requests a reset for the demo user and returns the link it is mailed.
func (s *stack) resetLink(email string) string {
	s.t.Helper()
	after := s.box.LastID()
	s.requestReset(email)
	return testenv.ResetLink(s.t, s.box.WaitResetMail(s.t, email, after))
}

var (
	csrfField   = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	metaRefresh = regexp.MustCompile(`<meta http-equiv="refresh" content="0; url=reset">`)
)

// openForm follows a reset link as a browser does: the link's page moves the
// ticket into a cookie and refreshes to /lo/reset, which shows the form. It
// returns the form's CSRF token.
func (s *stack) openForm(link string) string {
	s.t.Helper()
	resp, page := s.do("GET", strings.TrimPrefix(link, base), "", "")
	if resp.StatusCode != 200 || !metaRefresh.MatchString(page) {
		s.t.Fatalf("GET reset link: %d\n%s", resp.StatusCode, page)
	}
	resp, page = s.do("GET", "/lo/reset", "", "")
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET reset page: %d\n%s", resp.StatusCode, page)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		s.t.Fatalf("no CSRF field in the reset page:\n%s", page)
	}
	return m[1]
}

// drained waits until the service has no pending job or mail.
func (s *stack) drained() {
	s.t.Helper()
	testenv.Drained(s.t, s.service())
}
