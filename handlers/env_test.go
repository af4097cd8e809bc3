package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const pageConn = testenv.Conn

// pageEnv is the public handler over real HTTP, with the services behind it on
// real parts (testenv.Stack): a Badger store on disk, the demo app's hooks over
// HTTP and a mail catcher on a real SMTP port.
type pageEnv struct {
	url   string // the handler's origin, which is also the service's public URL
	svc   *reset.Service
	admin *admin.Service
	app   *testenv.App
	box   *testenv.Mailbox
	clock *testenv.Clock
}

// newPageEnv serves the public handler for a service whose connection has pol;
// opts change the service's configuration before it starts.
func newPageEnv(t *testing.T, pol policy.Policy, opts ...func(*service.Config)) *pageEnv {
	t.Helper()
	return newPageEnvWith(t, pol, nil, opts...)
}

// newPageEnvWith is newPageEnv serving what serve makes of the handler,
// before it serves (nil: the handler itself).
func newPageEnvWith(t *testing.T, pol policy.Policy, serve func(*Public) http.Handler, opts ...func(*service.Config)) *pageEnv {
	t.Helper()
	// The listener exists before the server starts: its address is the public
	// URL the service builds links on.
	srv := httptest.NewUnstartedServer(nil)
	env := &pageEnv{url: "http://" + srv.Listener.Addr().String()}
	public, _ := url.Parse(env.url)
	st := testenv.NewStackWith(t, testenv.StackOptions{Configure: func(s *testenv.Stack, c *service.Config) {
		c.Site.PublicURL = public
		c.Site.Connections[pageConn].Policy = pol
		c.Site.Clients["demo-app"].ResultURL = s.App.URL + "/login"
	}}, opts...)
	env.svc, env.admin, env.app, env.box, env.clock = st.Flow, st.Admin, st.App, st.Box, st.Clock
	h, err := NewPublic(env.svc, PublicConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	if serve != nil {
		srv.Config.Handler = serve(h)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return env
}

// ticket creates a ticket for alice (as an admin does: no email) that lives ttl,
// and returns its link.
func (env *pageEnv) ticket(t *testing.T, ttl time.Duration) string {
	t.Helper()
	issued, err := env.admin.CreateTicket(context.Background(), admin.Actor{Name: "test"},
		admin.TicketRequest{Email: "alice@example.com", ConnectionID: pageConn, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return issued.URL
}

// fetched is an answer with its body read.
type fetched struct {
	*http.Response
	body string
}

// fetch sends req without following redirects and reads the answer.
func fetch(t *testing.T, req *http.Request) fetched {
	t.Helper()
	resp, err := testenv.NoRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{resp, string(b)}
}

// get fetches rawURL with cookies.
func (env *pageEnv) get(t *testing.T, rawURL string, cookies ...*http.Cookie) fetched {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return fetch(t, req)
}

// post sends form to rawURL with cookies.
func (env *pageEnv) post(t *testing.T, rawURL string, form url.Values, cookies ...*http.Cookie) fetched {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return fetch(t, req)
}

// cookie returns the cookie named name that p sets.
func (p fetched) cookie(t *testing.T, name string) *http.Cookie {
	t.Helper()
	for _, c := range p.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, p.Header.Values("Set-Cookie"))
	return nil
}

// openForm follows a reset link as a browser does and returns the form page with
// the cookies it set (the ticket's, the CSRF token's).
func (env *pageEnv) openForm(t *testing.T, link string) (fetched, []*http.Cookie) {
	t.Helper()
	moved := env.get(t, link)
	if moved.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", link, moved.StatusCode, moved.body)
	}
	ticket := moved.cookie(t, "pwreset_ticket")
	form := env.get(t, env.url+PathReset, ticket)
	if form.StatusCode != http.StatusOK {
		t.Fatalf("GET the form: %d\n%s", form.StatusCode, form.body)
	}
	return form, []*http.Cookie{ticket, form.cookie(t, "pwreset_csrf")}
}

// hiddenField returns the value of the hidden input name in an HTML page.
func hiddenField(t *testing.T, body, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `name="`+name+`" value="`)
	if !ok {
		t.Fatalf("no %s field in\n%s", name, body)
	}
	value, _, _ := strings.Cut(rest, `"`)
	return value
}
