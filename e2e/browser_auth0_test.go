package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// Auth0's browser libraries, unchanged, in headless Chromium, on pages of other
// origins than the plugin's: auth0-js's changePassword and Lock's
// forgot-password screen. Both always call https://<domain>, so the plugin's
// routes are served over HTTPS too (Caddy's internal CA, which the browser is
// told to accept).

const (
	// browserClientsDir holds auth0-js, Lock and esbuild, pinned by its
	// package-lock.json; ./test.sh installs them with `npm ci`.
	browserClientsDir = "testdata/browserclients"
	// spaDomain is the plugin's public site over HTTPS: the "domain" the
	// libraries are given.
	spaDomain = "localhost:9445"
	// spaClient is the client the pages use; it lists the allowed page's origin.
	spaClient = "spa-app"
	// auth0Sentence is Auth0's answer to a request, which Lock shows.
	auth0Sentence = "We've just sent you an email to reset your password."
)

// spaStack is the stack with a client allowing allowedOrigin and the public
// site also served on https://spaDomain.
func spaStack(t *testing.T, allowedOrigin string) *stack {
	t.Helper()
	s := &stack{options: fmt.Sprintf("client %s {\n\t\t\tname \"Single Page App\"\n\t\t\tallowed_origins %s\n\t\t}",
		spaClient, allowedOrigin)}
	s.start(t)
	// No HTTP->HTTPS redirects: the site on http://localhost:9080 stays plain.
	cfg := strings.Replace(s.caddyfile(), "\tskip_install_trust\n", "\tskip_install_trust\n\tauto_https disable_redirects\n", 1)
	cfg += fmt.Sprintf("\nhttps://%s {\n\ttls internal\n\tpassword_reset\n\treverse_proxy %s\n}\n",
		spaDomain, strings.TrimPrefix(s.app.URL, "http://"))
	s.tester.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	waitCertificate(t, filepath.Join(s.dir, "caddy", "pki", "authorities", "local", "root.crt"), spaDomain)
	return s
}

// waitCertificate waits until addr serves a certificate of the CA in caRoot:
// Caddy issues its internal certificates in the background.
func waitCertificate(t *testing.T, caRoot, addr string) {
	t.Helper()
	testenv.Eventually(t, "the certificate of "+addr, func() (bool, error) {
		pem, err := os.ReadFile(caRoot)
		if err != nil {
			return false, nil
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
}

// bundleBrowserClients bundles auth0-js and Lock for the browser with the
// pinned esbuild (build.mjs), as an app's build would, into a directory of the
// test.
func bundleBrowserClients(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the browser client tests need Node.js (node) and never skip: %v", err)
	}
	if _, err := os.Stat(filepath.Join(browserClientsDir, "node_modules", "esbuild", "package.json")); err != nil {
		t.Fatalf("auth0-js, Lock and esbuild are missing: run ./test.sh, which runs `npm ci` in e2e/%s (%v)",
			browserClientsDir, err)
	}
	out := t.TempDir()
	cmd := exec.Command(node, "build.mjs", out)
	cmd.Dir = browserClientsDir
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bundle the browser clients: %v\n%s", err, output)
	}
	return out
}

// servePage serves, on an origin of its own, a page that loads the bundles and
// runs script, with extra HTML before it.
func servePage(t *testing.T, bundles, extraHTML, script string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /lib/", http.StripPrefix("/lib/", http.FileServer(http.Dir(bundles))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>SPA</title>
<script src="/lib/auth0js.js"></script><script src="/lib/lock.js"></script></head>
<body>%s<script>%s</script></body></html>`, extraHTML, script)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// browserOnOtherOrigins is Chromium accepting Caddy's internal CA.
func browserOnOtherOrigins(t *testing.T) *browser {
	t.Helper()
	return newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// changePasswordScript calls auth0-js's WebAuth.changePassword for email with
// a state set, after asking for the challenge as Lock does, and logs each
// outcome as "<name> <email> <JSON>".
func changePasswordScript(email string) string {
	return fmt.Sprintf(`
const report = (name, err, res) => console.log(name + " " + JSON.stringify({
  err: err ? {code: err.code || null, description: err.description || null, original: String(err.original || err)} : null,
  res: res === undefined ? null : res,
}));
const email = %s;
const webAuth = new auth0.WebAuth({domain: %s, clientID: %s, state: "spa-state-7"});
webAuth.client.dbConnection.getPasswordResetChallenge((err, res) => {
  report("challenge " + email, err, res);
  webAuth.changePassword({connection: %s, email}, (err, res) => report("changePassword " + email, err, res));
});`, jsString(email), jsString(spaDomain), jsString(spaClient), jsString(conn))
}

// outcome is what changePasswordScript logged for one call.
type outcome struct {
	Err *struct {
		Code, Description *string
		Original          string
	} `json:"err"`
	Res json.RawMessage `json:"res"`
}

// waitOutcome waits for the console line of the call name and decodes it. The
// console gives a string argument quoted as JSON.
func (b *browser) waitOutcome(name string) outcome {
	b.t.Helper()
	const logged = "console.log: "
	b.waitConsole(logged + jsString(name + " ")[:len(name)+2])
	for _, line := range b.consoleLines(true) {
		var text string
		if quoted, ok := strings.CutPrefix(line, logged); !ok || json.Unmarshal([]byte(quoted), &text) != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(text, name+" "); ok {
			var o outcome
			if err := json.Unmarshal([]byte(rest), &o); err != nil {
				b.t.Fatalf("%s: cannot decode %q: %v", name, rest, err)
			}
			return o
		}
	}
	b.t.Fatalf("no %s line%s", name, b.where())
	return outcome{}
}

// noMailTo fails if a message to any of emails arrived after the mailbox's
// message after; call it once the service is drained.
func noMailTo(t *testing.T, box *testenv.Mailbox, after int, emails ...string) {
	t.Helper()
	for _, m := range box.Messages() {
		for _, e := range emails {
			if m.ID > after && len(m.EnvelopeTo) == 1 && strings.EqualFold(m.EnvelopeTo[0], e) {
				t.Errorf("mail to %s (%q): the request should have been refused", e, m.Subject)
			}
		}
	}
}

// TestBrowserAuth0JSChangePasswordCrossOrigin: auth0-js on a page of a listed
// origin, with a state set, gets the challenge ("none required") and
// changePassword's answer, and the mail arrives. On a page of an unlisted
// origin, the browser's preflight is refused, so auth0-js gets an error and
// nothing is sent; and a plain form post from that page (which needs no
// preflight) is refused with 403 and mails nothing.
func TestBrowserAuth0JSChangePasswordCrossOrigin(t *testing.T) {
	bundles := bundleBrowserClients(t)
	listed := servePage(t, bundles, "", changePasswordScript("alice@example.com"))
	form := fmt.Sprintf(`<form id="bomb" method="post" action="https://%s/dbconnections/change_password">
<input name="client_id" value="%s"><input name="connection" value="%s"><input name="email" value="carol@example.com">
<button type="submit">send</button></form>`, spaDomain, spaClient, html.EscapeString(conn))
	unlisted := servePage(t, bundles, form, changePasswordScript("bob@example.com"))
	s := spaStack(t, listed.URL)
	after := s.box.LastID()

	b := browserOnOtherOrigins(t)
	b.open(listed.URL+"/", 200)
	if ch := b.waitOutcome("challenge alice@example.com"); ch.Err != nil || string(ch.Res) != `{"required":false}` {
		t.Errorf("challenge: %+v %s, want {\"required\":false}", ch.Err, ch.Res)
	}
	if cp := b.waitOutcome("changePassword alice@example.com"); cp.Err != nil || !strings.Contains(string(cp.Res), auth0Sentence) {
		t.Errorf("changePassword from the listed origin: err %+v, res %s; want Auth0's sentence", cp.Err, cp.Res)
	}
	s.box.WaitResetMail(t, "alice@example.com", after)

	b.open(unlisted.URL+"/", 200)
	if cp := b.waitOutcome("changePassword bob@example.com"); cp.Err == nil {
		t.Errorf("changePassword from an unlisted origin succeeded: %s", cp.Res)
	}
	resp := b.load("post the form", chromedp.Click(chromedp.CSS("#bomb button")))
	if resp.Status != http.StatusForbidden {
		t.Errorf("form post from an unlisted origin: status %d, want 403", resp.Status)
	}
	s.drained()
	noMailTo(t, s.box, after, "bob@example.com", "carol@example.com")
}

// lockScript shows Lock for the SPA client, on its forgot-password screen, with
// options (a JavaScript object), in the page's #lock element.
func lockScript(options string) string {
	return fmt.Sprintf(`
const lock = new Auth0Lock(%s, %s, Object.assign({container: "lock", initialScreen: "forgotPassword"}, %s));
lock.on("forgot_password submit", () => console.log("lock forgot_password submit"));
lock.show();`, jsString(spaClient), jsString(spaDomain), options)
}

// forgotWithLock sends email from Lock's forgot-password screen and waits for
// Lock's success message.
func (b *browser) forgotWithLock(email string) {
	b.t.Helper()
	// Typing needs the field focused, which a headless tab's Lock does not
	// do; the value is set as React's own input event carries it instead.
	b.do("type the email and send", chromedp.WaitVisible(chromedp.CSS("button.auth0-lock-submit")),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
  const input = document.querySelector('.auth0-lock input[name="email"]');
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, %s);
  input.dispatchEvent(new Event("input", {bubbles: true}));
  document.querySelector("button.auth0-lock-submit").click();
})()`, jsString(email))))
	if got := b.text(".auth0-global-message-success"); !strings.EqualFold(got, auth0Sentence) { // Lock upper-cases it in CSS
		b.t.Errorf("Lock says %q, want %q", got, auth0Sentence)
	}
}

// TestBrowserLockForgotPassword: Lock with its default settings but the
// initial screen, on a page of a listed origin, loads the client's
// configuration from the plugin (/client/<id>.js), sends the request from its
// forgot-password screen, shows Auth0's sentence, and the mail arrives with a
// link that opens the reset form.
func TestBrowserLockForgotPassword(t *testing.T) {
	bundles := bundleBrowserClients(t)
	page := servePage(t, bundles, `<div id="lock"></div>`, lockScript("{}"))
	s := spaStack(t, page.URL)
	after := s.box.LastID()

	b := browserOnOtherOrigins(t)
	b.open(page.URL+"/", 200)
	b.forgotWithLock("alice@example.com")
	link := testenv.ResetLink(t, s.box.WaitResetMail(t, "alice@example.com", after))
	b.open(link, 200)
	b.checkResetForm("alice@example.com")
}

// TestBrowserLockWithState: Lock given a state (auth.params.state), as apps
// that keep one do, asks for the password-reset challenge before the screen
// and sends the state with the request: both are taken and the mail arrives.
func TestBrowserLockWithState(t *testing.T) {
	bundles := bundleBrowserClients(t)
	page := servePage(t, bundles, `<div id="lock"></div>`, lockScript(`{auth: {params: {state: "lock-state-42"}}}`))
	s := spaStack(t, page.URL)
	after := s.box.LastID()

	b := browserOnOtherOrigins(t)
	b.open(page.URL+"/", 200)
	b.forgotWithLock("bob@example.com")
	s.box.WaitResetMail(t, "bob@example.com", after)
}
