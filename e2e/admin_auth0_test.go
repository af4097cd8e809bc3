package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// auth0ClientDir holds the real auth0 npm package, pinned by package-lock.json;
// ./test.sh installs it with `npm ci`.
const auth0ClientDir = "testdata/auth0client"

// nodeResult is one call's outcome as script.js reports it.
type nodeResult struct {
	OK      bool            `json:"ok"`
	Data    json.RawMessage `json:"data"`
	Status  int             `json:"status"`
	Body    mgmtError       `json:"body"`
	Message string          `json:"message"`
}

// TestAuth0NodeClient drives the plugin's Management API with Auth0's own Node.js
// SDK (the auth0 npm package's ManagementClient), unchanged but for its domain
// and token, over HTTPS with Caddy's internal CA: tickets.changePassword (with
// a connection's name or con_ id), users.update with a password, emailTemplates
// get/update/set/create, and the reads (users.get, users.list with q,
// users.listUsersByEmail, connections.list/get, emails.provider.get,
// logs.list with search and with q), including the SDK's error classes for
// 404s, 400s and the 409.
func TestAuth0NodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("this test needs Node.js (node) and never skips: %v", err)
	}
	if _, err := os.Stat(filepath.Join(auth0ClientDir, "node_modules", "auth0", "package.json")); err != nil {
		t.Fatalf("the auth0 npm package is missing: run ./test.sh, which runs `npm ci` in e2e/%s (%v)", auth0ClientDir, err)
	}
	as := newAdminStack(t, "")
	as.waitTLS()
	// A request for a user and one for an unknown address, handled before the
	// SDK reads the log: their scpr and fcpr entries.
	after := as.box.LastID()
	as.requestReset("alice@example.com")
	as.requestReset("nobody@example.com")
	as.box.WaitMail(t, "alice@example.com", after)
	testenv.Drained(t, as.service())

	const nodePassword = "Node-set-Password-7"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "script.js")
	cmd.Dir = auth0ClientDir
	cmd.Env = append(os.Environ(),
		"AUTH0_DOMAIN="+adminTLS,
		"AUTH0_TOKEN="+adminToken,
		"NODE_EXTRA_CA_CERTS="+as.caRoot(),
		"RESULT_URL="+base+"/login?from=ticket",
		"NEW_PASSWORD="+nodePassword,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node script.js: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("node script.js took %s", time.Since(start).Round(time.Millisecond))
	var out map[string]nodeResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("script output: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	ok := func(name string, v any) {
		t.Helper()
		r := out[name]
		if !r.OK {
			t.Fatalf("%s failed: %d %+v %s", name, r.Status, r.Body, r.Message)
		}
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("%s: %v in %s", name, err, r.Data)
		}
	}
	refused := func(name string, status int, code, mention string) {
		t.Helper()
		r := out[name]
		if r.OK || r.Status != status || (code != "" && r.Body.ErrorCode != code) || !strings.Contains(r.Body.Message, mention) {
			t.Errorf("%s: %+v; want the SDK's error with status %d, code %q, mentioning %q", name, r, status, code, mention)
		}
	}

	var ticket struct {
		Ticket string `json:"ticket"`
	}
	ok("ticketByEmail", &ticket)
	if !strings.HasPrefix(ticket.Ticket, base+"/lo/reset?ticket=") {
		t.Errorf("ticket %q", ticket.Ticket)
	}
	var byID struct {
		Ticket string `json:"ticket"`
	}
	ok("ticketByID", &byID)
	refused("ticketUnknownUser", 404, "inexistent_user", "does not exist")
	refused("ticketBadResultURL", 400, "invalid_body", "not allowed")

	// The ticket the SDK made works in the reset page, without the email in the
	// redirect (includeEmailInRedirect: false).
	csrf := as.openForm(ticket.Ticket)
	resp, page := as.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "ticket": {testenv.Ticket(t, ticket.Ticket)}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if resp.StatusCode != 303 || strings.Contains(resp.Header.Get("Location"), "email=") {
		t.Errorf("reset with the SDK's ticket: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if !as.app.CheckPassword("alice@example.com", newPassword) {
		t.Error("alice's password did not change through the SDK's ticket")
	}

	var user struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
	}
	ok("setPassword", &user)
	if user.UserID != "user-bob" || user.Email != "bob@example.com" {
		t.Errorf("users.update answered %+v", user)
	}
	if !as.app.CheckPassword("bob@example.com", nodePassword) {
		t.Error("bob's password did not change through users.update")
	}
	refused("weakPassword", 400, "invalid_password", "PasswordStrengthError")

	var got, updated, legacy, set templateJSON
	ok("templateGet", &got)
	ok("templateUpdate", &updated)
	ok("templateLegacyGet", &legacy)
	ok("templateSet", &set)
	if got.Template != "reset_email" || got.Syntax != "liquid" || !strings.Contains(got.Body, "{{ url }}") {
		t.Errorf("emailTemplates.get: %+v", got)
	}
	if updated.Subject != "Reset your {{ application.name }} password (node)" || updated.Body != got.Body || legacy.Subject != updated.Subject {
		t.Errorf("emailTemplates.update: %+v; legacy name: %+v", updated, legacy)
	}
	if set.Subject != "Set by node" || set.From != "Ops <ops@example.com>" || set.URLLifetimeInSeconds != 7200 {
		t.Errorf("emailTemplates.set: %+v", set)
	}
	refused("templateBad", 400, "invalid_template", "body, line 1")

	checkNodeReads(t, as, out)

	// The template the SDK set is the one mailed.
	after = as.box.LastID()
	as.requestReset("alice@example.com")
	msg := as.box.WaitMail(t, "alice@example.com", after)
	if msg.Subject != "Set by node" || !strings.Contains(msg.HTML, "within 2 hours") || !strings.Contains(msg.From, "<ops@example.com>") {
		t.Errorf("mail after emailTemplates.set: %q from %q\n%s", msg.Subject, msg.From, msg.HTML)
	}
	types := map[string]bool{}
	for _, e := range as.auditAll() {
		if e.Actor == "ops" {
			types[e.Type] = true
		}
	}
	for _, want := range []string{"admin_ticket", "admin_password", "admin_template", "sapi", "fapi"} {
		if !types[want] {
			t.Errorf("no %s entry by ops in the audit log", want)
		}
	}
}

// checkNodeReads checks what script.js's reads answered (issue 11).
func checkNodeReads(t *testing.T, as *adminStack, out map[string]nodeResult) {
	t.Helper()
	get := func(name string, v any) {
		t.Helper()
		r := out[name]
		if !r.OK {
			t.Errorf("%s failed: %d %+v %s", name, r.Status, r.Body, r.Message)
			return
		}
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Errorf("%s: %v in %s", name, err, r.Data)
		}
	}
	refused := func(name string, status int, code, mention string) {
		t.Helper()
		r := out[name]
		if r.OK || r.Status != status || r.Body.ErrorCode != code || !strings.Contains(r.Body.Message, mention) {
			t.Errorf("%s: %+v; want the SDK's error with status %d, code %q, mentioning %q", name, r, status, code, mention)
		}
	}
	type identity struct {
		Connection, Provider string
		UserID               string `json:"user_id"`
	}
	type user struct {
		UserID     string `json:"user_id"`
		Email      string
		Blocked    bool
		Identities []identity
	}
	var alice user
	var bobs, alices, byEmail, none []user
	get("userGet", &alice)
	get("usersSearch", &bobs)
	get("usersSearchByID", &alices)
	get("usersByEmail", &byEmail)
	get("usersByEmailNone", &none)
	want := identity{Connection: conn, Provider: "auth0", UserID: "user-alice"}
	if alice.Email != "alice@example.com" || len(alice.Identities) != 1 || alice.Identities[0] != want {
		t.Errorf("users.get: %+v", alice)
	}
	if len(bobs) != 1 || bobs[0].UserID != "user-bob" || len(alices) != 1 || alices[0].UserID != "user-alice" ||
		len(byEmail) != 1 || byEmail[0].UserID != "user-alice" || none == nil || len(none) != 0 {
		t.Errorf("users.list: %+v, %+v; listUsersByEmail: %+v, %+v", bobs, alices, byEmail, none)
	}
	refused("userGetUnknown", 404, "inexistent_user", "does not exist")
	refused("usersSearchBad", 400, "invalid_query_string", `email:"<address>" or user_id:"<id>"`)

	type connection struct {
		ID, Name, Strategy string
		Options            *struct {
			PasswordPolicy string `json:"passwordPolicy"`
		}
		EnabledClients []string `json:"enabled_clients"`
	}
	var all, dbs []connection
	var one connection
	get("connections", &all)
	get("connectionsDB", &dbs)
	get("connectionGet", &one)
	if len(all) != 2 || len(dbs) != 1 || one.Name != conn || one.ID != dbs[0].ID || !strings.HasPrefix(one.ID, "con_") ||
		one.Strategy != "auth0" || one.Options == nil || one.Options.PasswordPolicy != "good" || len(one.EnabledClients) != 1 {
		t.Errorf("connections.list: %+v; strategy auth0: %+v; get: %+v", all, dbs, one)
	}
	refused("connectionUnknown", 404, "inexistent_connection", "does not exist")
	var ticket struct{ Ticket string }
	if get("ticketByConnectionID", &ticket); !strings.HasPrefix(ticket.Ticket, base+"/lo/reset?ticket=") {
		t.Errorf("tickets.changePassword with connection_id %s: %+v", one.ID, ticket)
	}

	var provider struct {
		Name, DefaultFromAddress string
		Credentials              map[string]any
	}
	get("emailProvider", &provider)
	host, port, _ := strings.Cut(as.smtpAddr(), ":")
	if r := out["emailProvider"]; provider.Name != "smtp" || provider.Credentials["smtp_host"] != host ||
		fmt.Sprint(provider.Credentials["smtp_port"]) != port || strings.Contains(strings.ToLower(string(r.Data)), "pass") {
		t.Errorf("emails.provider.get: %s", r.Data)
	}

	var created templateJSON
	get("templateCreate", &created)
	if created.Template != "password_changed" || created.Subject != "Created by node" {
		t.Errorf("emailTemplates.create: %+v", created)
	}
	refused("templateCreateAgain", 409, "template_exists", "Template password_changed already exists.")
	refused("templateCreateSet", 409, "template_exists", "Template reset_email already exists.")

	var scpr, bobTickets, fcpr []auditEntry
	get("logsSearch", &scpr)
	get("logsQ", &bobTickets)
	get("logsFailed", &fcpr)
	if len(scpr) == 0 || scpr[len(scpr)-1].Type != "scpr" || scpr[len(scpr)-1].UserName != "alice@example.com" {
		t.Errorf("logs.list search type:scpr: %+v", scpr)
	}
	if len(fcpr) != 1 || fcpr[0].UserName != "nobody@example.com" {
		t.Errorf("logs.list search type:fcpr: %+v", fcpr)
	}
	if len(bobTickets) != 2 || bobTickets[0].Type != "admin_ticket" || bobTickets[0].UserID != "user-bob" {
		t.Errorf("logs.list q: %+v, want bob's two tickets", bobTickets)
	}
	refused("logsBad", 400, "invalid_query_string", "The operator OR is not supported")
}

// waitTLS waits until the https admin site answers a handshake with a
// certificate from Caddy's internal CA, which Caddy issues as it starts.
func (as *adminStack) waitTLS() {
	as.t.Helper()
	waitCertificate(as.t, as.caRoot(), adminTLS)
}
