// Package cluster tests several Caddy nodes on one PostgreSQL (issue 9): each
// test runs the built bin/caddy (./xcaddy.sh build, which TestMain runs; a no-op
// when fresh) as several child processes on ports picked free at run time, in
// front of one demo app with seeded users, mailing to one counting SMTP sink,
// all of them on a PostgreSQL server the test starts itself (initdb in a
// temporary directory, a free loopback port, stopped at the end).
package cluster

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

var caddyBin string

func TestMain(m *testing.M) { testenv.MainWithCaddy(m, "cluster", &caddyBin) }

// encryptionKey is the key every node shares, as a cluster must.
const encryptionKey = "cluster-test-encryption-key-0123456789abcdef"

// poll bounds the waits of these tests, each check over HTTP or on the sink.
var poll = testenv.Poll{Timeout: 2 * time.Minute, Every: 10 * time.Millisecond}

// cluster is one PostgreSQL database, the app, the sink and the nodes.
type cluster struct {
	t     *testing.T
	pg    *testenv.Postgres
	dsn   string
	app   *testenv.App
	sink  *testenv.Sink
	nodes []*node
}

// node is one Caddy process of the cluster.
type node struct {
	cfg   testenv.CaddyConfig
	caddy *testenv.Caddy
}

// clusterOptions shape a cluster.
type clusterOptions struct {
	nodes, users int
	rateLimits   bool   // keep the product's default limits (off otherwise: one client IP)
	options      string // extra lines of the password_reset block
}

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, pg: testenv.StartPostgres(t)}
	c.dsn = c.pg.NewDatabase(t)
	c.app = testenv.StartSeededApp(t, o.users)
	c.sink = testenv.StartSink(t, testenv.SinkConfig{SMTPUTF8: true})
	c.sink.KeepRaw(true)
	ports, err := testenv.FreePorts(3 * o.nodes)
	if err != nil {
		t.Fatal(err)
	}
	public := fmt.Sprintf("http://127.0.0.1:%d", ports[1]) // the balancer would be here: node 1
	for i := range o.nodes {
		cfg := testenv.CaddyConfig{Admin: ports[3*i], Plugin: true, PluginPort: ports[3*i+1], AdminSitePort: ports[3*i+2],
			App: c.app.Addr, SMTP: c.sink.Addr, PublicURL: public, RateLimits: o.rateLimits,
			Storage: "postgres {env.TESTENV_PG_DSN} {\n\t\t\tmax_conns 8\n\t\t}",
			Options: "\t\tencryption_key {env.TESTENV_KEY}\n" + o.options}
		n := &node{cfg: cfg, caddy: testenv.NewCaddy(t, caddyBin, cfg)}
		n.caddy.Env = []string{"TESTENV_PG_DSN=" + c.dsn, "TESTENV_KEY=" + encryptionKey}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	return c
}

func (c *cluster) start(n *node) {
	c.t.Helper()
	if err := n.caddy.Start(c.t.Context(), n.cfg.Caddyfile(), addr(n.cfg.PluginPort), addr(n.cfg.AdminSitePort)); err != nil {
		c.t.Fatal(err)
	}
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// base is the node's plugin site.
func (n *node) base() string { return "http://" + addr(n.cfg.PluginPort) }

// onNode rewrites a link of the cluster's public URL to node n, as a balancer
// would send it there.
func onNode(t *testing.T, link string, n *node) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr(n.cfg.PluginPort)
	return u.String()
}

// request asks node n for a reset for email and wants Auth0's 200.
func (c *cluster) request(client *http.Client, n *node, email string) {
	c.t.Helper()
	o := testenv.PostReset(c.t.Context(), client, n.base(), email)
	if o.Err != nil || o.Status != http.StatusOK {
		c.t.Fatalf("change_password for %s on %s: %d %q %v", email, n.base(), o.Status, o.Body, o.Err)
	}
}

// resetLink waits for the newest reset mail to email and returns its link.
func (c *cluster) resetLink(email string, after int) string {
	c.t.Helper()
	var link string
	poll.Eventually(c.t, "a reset mail to "+email, func() (bool, error) {
		if len(c.sink.MessageIDs(email)) <= after {
			return false, nil
		}
		link = testenv.RawResetLink(c.sink.Raw(email))
		return link != "", nil
	})
	return link
}

// browser is a client with a cookie jar, following no redirects: cookies do not
// isolate ports, so one jar serves every node on 127.0.0.1 as one browser
// would serve every node behind one host name.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := testenv.NoRedirects()
	client.Jar = jar
	client.Timeout = 30 * time.Second
	return client
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// openForm opens link with client as a browser does (the link's page moves the
// ticket into a cookie, the form is at /lo/reset) and returns the form's CSRF
// token. The form is fetched from formNode.
func openForm(t *testing.T, client *http.Client, link string, formNode *node) string {
	t.Helper()
	status, page := get(t, client, link)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", link, status, page)
	}
	status, page = get(t, client, formNode.base()+"/lo/reset")
	m := csrfField.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("the form on %s: %d\n%s", formNode.base(), status, page)
	}
	return m[1]
}

// submit posts the reset form to node n and returns the status.
func submit(ctx context.Context, client *http.Client, n *node, csrf, password string) (int, error) {
	form := url.Values{"_csrf": {csrf}, "newPassword": {password}, "confirmNewPassword": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base()+"/lo/reset", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func get(t *testing.T, client *http.Client, u string) (int, string) {
	t.Helper()
	status, body, err := testenv.Get(t.Context(), client, u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return status, body
}
