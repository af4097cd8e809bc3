package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestAdminAuth: the admin routes open only to a configured bearer token, or to
// whoever Caddy's basic_auth let in with `token none`; without one, a 401 with
// WWW-Authenticate that says nothing about the routes; a token in the URL is
// refused even with a good header.
func TestAdminAuth(t *testing.T) {
	as := newAdminStack(t, "")
	for _, path := range []string{"/api/v2/tickets/password-change", "/api/v2/no-such-route"} {
		resp, _ := as.api("POST", path, "", `{}`)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("no token, %s: %d %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	as.apiErr("GET", "/api/v2/email-templates/reset_email", "", "", 401, "missing_token", "Missing authentication")
	e := as.apiErr("GET", "/api/v2/email-templates/reset_email", "wrong-token-0123456789abcdef", "", 401, "invalid_token", "Invalid token")
	if strings.Contains(e.Message, "ops") {
		t.Errorf("a wrong token's answer names a token: %+v", e)
	}
	resp, _ := as.api("GET", "/api/v2/email-templates/reset_email", "", "", "Authorization", "Basic "+adminToken)
	if resp.StatusCode != 401 {
		t.Errorf("Basic scheme: %d", resp.StatusCode)
	}
	resp, _ = as.api("GET", "/api/v2/email-templates/reset_email", adminToken+"x", "")
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("token with an extra character: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// A token in the query string, alone or with a good header: refused.
	as.apiErr("GET", "/api/v2/email-templates/reset_email?access_token="+adminToken, "", "", 400, "token_in_query", "query string")
	as.apiErr("GET", "/api/v2/logs?access_token="+adminToken, adminToken, "", 400, "token_in_query", "Authorization header")
	resp, page := as.api("GET", "/admin/login?token="+adminToken, "", "")
	if resp.StatusCode != 400 || !strings.Contains(page, "refused") {
		t.Errorf("dashboard with a token in the URL: %d", resp.StatusCode)
	}
	// Each token works, and the audit log names the one used.
	as.apiOK("PATCH", "/api/v2/email-templates/reset_email", `{"subject":"From CI"}`, 200, nil)
	resp, text := as.api("GET", "/api/v2/logs", ciToken, "")
	if resp.StatusCode != 200 {
		t.Fatalf("ci token: %d %s", resp.StatusCode, text)
	}
	entries := as.audit()
	if len(entries) == 0 || entries[0].Actor != "ops" || entries[0].Type != "admin_template" || entries[0].IP != "127.0.0.1" {
		t.Errorf("audit log: %+v", entries)
	}
	// Unknown routes and methods, once authenticated, in Auth0's shape.
	as.apiErr("GET", "/api/v2/nothing", adminToken, "", 404, "not_found", "Not Found")
	resp, _ = as.api("DELETE", "/api/v2/email-templates/reset_email", adminToken, "")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, PUT, PATCH" {
		t.Errorf("DELETE template: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// The site's other paths go on to the next handler.
	resp, text = as.api("GET", "/elsewhere", "", "")
	if resp.StatusCode != 404 || text != "not an admin route" {
		t.Errorf("other path: %d %q", resp.StatusCode, text)
	}
	// `token none` behind basic_auth: Caddy refuses without credentials; with
	// them, the audit log names the basic_auth user.
	req, _ := http.NewRequest("GET", guardBase+"/api/v2/logs", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("basic_auth in front, no credentials: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	req, _ = http.NewRequest("PATCH", guardBase+"/api/v2/email-templates/reset_email", strings.NewReader(`{"subject":"Via basic_auth"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(guardUser, guardPass)
	r, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("basic_auth in front, with credentials: %d", r.StatusCode)
	}
	if entries := as.audit(); entries[0].Actor != guardUser {
		t.Errorf("the audit log names %q, want the basic_auth user", entries[0].Actor)
	}
}

// TestAdminTicket: POST /api/v2/tickets/password-change answers a link and sends
// no email; the link works like an emailed one, cancels the user's older link,
// and its use is in the audit log. Every refusal in Auth0's error shape.
func TestAdminTicket(t *testing.T) {
	as := newAdminStack(t, "\t\tclient other-app {\n\t\t\tname \"Other App\"\n\t\t\tresult_url http://127.0.0.1:9080/done\n\t\t}")
	emailed := as.resetLink("alice@example.com")
	mails := as.box.Count()

	var answer struct {
		Ticket string `json:"ticket"`
	}
	as.apiOK("POST", "/api/v2/tickets/password-change", `{"email":"alice@example.com","connection_id":"`+conn+
		`","client_id":"demo-app","ttl_sec":3600,"includeEmailInRedirect":false,"mark_email_as_verified":true}`, 201, &answer)
	if !strings.HasPrefix(answer.Ticket, base+"/lo/reset?ticket=") {
		t.Fatalf("ticket %q is not a link on the public URL", answer.Ticket)
	}
	as.drained()
	if n := as.box.Count(); n != mails {
		t.Errorf("the admin ticket sent mail: %d messages, had %d", n, mails)
	}
	// The emailed link is superseded.
	resp, page := as.do("GET", strings.TrimPrefix(emailed, base), "", "")
	if resp.StatusCode != http.StatusGone || !strings.Contains(page, "newer one") {
		t.Errorf("the older emailed link: %d", resp.StatusCode)
	}
	csrf := as.openForm(answer.Ticket)
	resp, page = as.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "ticket": {testenv.Ticket(t, answer.Ticket)}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST reset with the admin ticket: %d\n%s", resp.StatusCode, page)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Path != "/login" || loc.Query().Get("success") != "true" || loc.Query().Has("email") {
		t.Errorf("redirect %s: want the client's result URL without the email", loc)
	}
	if !as.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the password did not change")
	}
	entries := as.audit()
	if len(entries) < 2 || entries[0].Type != "scp" || entries[0].Actor != "user" || entries[0].UserID != "user-alice" ||
		entries[0].IP != "127.0.0.1" || entries[1].Type != "admin_ticket" || entries[1].Actor != "ops" {
		t.Errorf("audit log: %+v", entries)
	}
	raw, _ := json.Marshal(entries)
	if strings.Contains(string(raw), testenv.Ticket(t, answer.Ticket)) || strings.Contains(string(raw), newPassword) {
		t.Error("the audit log holds a ticket or a password")
	}

	// By user_id, with a result URL in the client's allow list.
	as.apiOK("POST", "/api/v2/tickets/password-change", `{"user_id":"user-bob","client_id":"other-app","result_url":"http://127.0.0.1:9080/done/here","ttl_sec":0}`, 201, &answer)
	csrf = as.openForm(answer.Ticket)
	resp, _ = as.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "ticket": {testenv.Ticket(t, answer.Ticket)}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "http://127.0.0.1:9080/done/here?") || !strings.Contains(loc, "email=bob%40example.com") {
		t.Errorf("bob's redirect: %d %q", resp.StatusCode, loc)
	}

	const p = "/api/v2/tickets/password-change"
	cases := []struct {
		name, body    string
		status        int
		code, mention string
	}{
		{"unknown user", `{"user_id":"user-nobody"}`, 404, "inexistent_user", "does not exist"},
		{"unknown email", `{"email":"nobody@example.com","connection_id":"` + conn + `"}`, 404, "inexistent_user", "does not exist"},
		{"user_id with email", `{"user_id":"user-bob","email":"bob@example.com","connection_id":"` + conn + `"}`, 400, "invalid_body", "cannot be used with"},
		{"email without connection_id", `{"email":"bob@example.com"}`, 400, "invalid_body", "connection_id"},
		{"connection_id without email", `{"connection_id":"` + conn + `"}`, 400, "invalid_body", "email"},
		{"nobody named", `{"client_id":"demo-app"}`, 400, "invalid_body", "user_id"},
		{"result_url not allowed", `{"user_id":"user-bob","result_url":"https://evil.example/"}`, 400, "invalid_body", "not allowed"},
		{"result_url of another client", `{"user_id":"user-bob","client_id":"demo-app","result_url":"http://127.0.0.1:9080/done"}`, 400, "invalid_body", "not allowed"},
		{"javascript result_url", `{"user_id":"user-bob","result_url":"javascript:alert(1)"}`, 400, "invalid_body", "absolute http"},
		{"result_url with organization_id", `{"user_id":"user-bob","result_url":"` + base + `/login","organization_id":"org_1"}`, 400, "invalid_body", "organization_id"},
		{"negative ttl", `{"user_id":"user-bob","ttl_sec":-1}`, 400, "invalid_body", "ttl_sec"},
		{"ttl too long", `{"user_id":"user-bob","ttl_sec":99999999}`, 400, "invalid_body", "ttl_sec"},
		{"ttl as a string", `{"user_id":"user-bob","ttl_sec":"60"}`, 400, "invalid_body", "must be an integer"},
		{"ttl as a fraction", `{"user_id":"user-bob","ttl_sec":1.5}`, 400, "invalid_body", "integer"},
		{"user_id as an array", `{"user_id":["user-bob","user-alice"]}`, 400, "invalid_body", "not an array"},
		{"unknown field", `{"user_id":"user-bob","new_field":1}`, 400, "invalid_body", "Additional properties not allowed"},
		{"identity", `{"identity":{"user_id":"x","provider":"auth0"}}`, 400, "invalid_body", "identity"},
		{"repeated field", `{"user_id":"user-bob","user_id":"user-alice"}`, 400, "invalid_body", "more than once"},
		{"case-variant field", `{"user_id":"user-bob","User_Id":"user-alice"}`, 400, "invalid_body", "more than once"},
		{"unknown connection", `{"email":"bob@example.com","connection_id":"nope"}`, 400, "invalid_body", "does not exist"},
		{"social connection", `{"email":"bob@example.com","connection_id":"google-oauth2"}`, 400, "operation_not_supported", "social"},
		{"unknown client", `{"user_id":"user-bob","client_id":"nope"}`, 400, "invalid_body", "Unknown client"},
		{"blocked user", `{"email":"carol@example.com","connection_id":"` + conn + `"}`, 400, "operation_not_supported", "blocked"},
		{"not JSON", `user_id=user-bob`, 400, "invalid_body", "JSON object"},
		{"two objects", `{"user_id":"user-bob"}{}`, 400, "invalid_body", "exactly one"},
		{"oversized body", `{"user_id":"` + strings.Repeat("a", 9000) + `"}`, 413, "payload_too_large", "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			as.t = t
			defer func() { as.t = as.stack.t }()
			as.apiErr("POST", p, adminToken, c.body, c.status, c.code, c.mention)
		})
	}
	req, _ := http.NewRequest("POST", adminBase+p, strings.NewReader(`{"user_id":"user-bob"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "text/plain")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Errorf("text/plain body: %d", r.StatusCode)
	}
}

// TestAdminSetPassword: PATCH /api/v2/users/{id} sets the password through the
// hook under the connection's policy, cancels the user's open link, sends no
// email, and refuses every other field by name.
func TestAdminSetPassword(t *testing.T) {
	as := newAdminStack(t, "")
	link := as.resetLink("alice@example.com")
	mails := as.box.Count()
	var user struct {
		UserID     string `json:"user_id"`
		Email      string `json:"email"`
		Identities []struct {
			Connection string `json:"connection"`
			Provider   string `json:"provider"`
		} `json:"identities"`
	}
	as.apiOK("PATCH", "/api/v2/users/user-alice", `{"password":"`+newPassword+`","connection":"`+conn+`"}`, 200, &user)
	if user.UserID != "user-alice" || user.Email != "alice@example.com" || len(user.Identities) != 1 || user.Identities[0].Connection != conn {
		t.Errorf("answer %+v", user)
	}
	if !as.app.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the password did not change")
	}
	resp, _ := as.do("GET", strings.TrimPrefix(link, base), "", "")
	if resp.StatusCode != http.StatusGone {
		t.Errorf("the user's open link after an admin set the password: %d, want 410", resp.StatusCode)
	}
	as.drained()
	if as.box.Count() != mails {
		t.Error("setting a password sent mail")
	}
	// Without a connection: the user is found in the only database connection.
	as.apiOK("PATCH", "/api/v2/users/user-bob", `{"password":"Another-9-password"}`, 200, nil)
	if !as.app.CheckPassword("bob@example.com", "Another-9-password") {
		t.Fatal("bob's password did not change")
	}
	entries := as.audit()
	if entries[0].Type != "admin_password" || entries[0].UserID != "user-bob" || entries[1].UserID != "user-alice" {
		t.Errorf("audit: %+v", entries[:2])
	}
	raw, _ := json.Marshal(entries)
	if strings.Contains(string(raw), newPassword) || strings.Contains(string(raw), "Another-9-password") {
		t.Error("the audit log holds a password")
	}
	changes := as.app.PasswordChanges()
	cases := []struct {
		name, path, body string
		status           int
		code, mention    string
	}{
		{"weak password", "user-alice", `{"password":"weak","connection":"` + conn + `"}`, 400, "invalid_password", "PasswordStrengthError"},
		{"same password (the app refuses)", "user-alice", `{"password":"` + newPassword + `","connection":"` + conn + `"}`, 400, "password_refused", "must differ"},
		{"unknown user", "user-nobody", `{"password":"` + newPassword + `"}`, 404, "inexistent_user", "does not exist"},
		{"no password", "user-alice", `{"connection":"` + conn + `"}`, 400, "invalid_body", "password is required"},
		{"email field", "user-alice", `{"password":"` + newPassword + `","email":"eve@evil.test"}`, 400, "invalid_body", "Only password and connection"},
		{"blocked field", "user-alice", `{"blocked":true}`, 400, "invalid_body", "Only password and connection"},
		{"unknown field", "user-alice", `{"password":"x","colour":"blue"}`, 400, "invalid_body", "Additional properties"},
		{"password as a number", "user-alice", `{"password":12345678}`, 400, "invalid_body", "must be a string"},
		{"social connection", "user-alice", `{"password":"` + newPassword + `","connection":"google-oauth2"}`, 400, "operation_not_supported", "social"},
		{"unknown connection", "user-alice", `{"password":"` + newPassword + `","connection":"nope"}`, 400, "invalid_body", "does not exist"},
		{"oversized body", "user-alice", `{"password":"` + strings.Repeat("a", 9000) + `"}`, 413, "payload_too_large", "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			as.t = t
			defer func() { as.t = as.stack.t }()
			as.apiErr("PATCH", "/api/v2/users/"+c.path, adminToken, c.body, c.status, c.code, c.mention)
		})
	}
	if n := as.app.PasswordChanges(); n != changes {
		t.Errorf("%d password changes, want %d: a refused request changed a password", n, changes)
	}
	if !as.app.CheckPassword("alice@example.com", newPassword) {
		t.Error("a refused request changed the password")
	}
}

// defaultLifetime is the built-in template's urlLifetimeInSeconds.
const defaultLifetime = int(emailtemplates.DefaultURLLifetime / time.Second)

// templateJSON is Auth0's email template object.
type templateJSON struct {
	Template               string `json:"template"`
	Body                   string `json:"body"`
	From                   string `json:"from"`
	Subject                string `json:"subject"`
	Syntax                 string `json:"syntax"`
	ResultURL              string `json:"resultUrl"`
	URLLifetimeInSeconds   int    `json:"urlLifetimeInSeconds"`
	IncludeEmailInRedirect bool   `json:"includeEmailInRedirect"`
	Enabled                bool   `json:"enabled"`
}

type versionJSON struct {
	Version      int          `json:"version"`
	Source       string       `json:"source"`
	Author       string       `json:"author"`
	RestoredFrom int          `json:"restored_from"`
	Template     templateJSON `json:"template"`
}

// TestAdminTemplates: get, patch, put, preview, versions and restore of the
// change-password email; a refused template changes nothing; the new subject is
// what the next email carries.
func TestAdminTemplates(t *testing.T) {
	as := newAdminStack(t, "")
	const p = "/api/v2/email-templates/reset_email"
	var tpl, legacy templateJSON
	as.apiOK("GET", p, "", 200, &tpl)
	as.apiOK("GET", "/api/v2/email-templates/change_password", "", 200, &legacy)
	if tpl.Template != "reset_email" || tpl.Syntax != "liquid" || !tpl.Enabled || !tpl.IncludeEmailInRedirect ||
		tpl.URLLifetimeInSeconds != defaultLifetime || !strings.Contains(tpl.Body, "{{ url }}") || legacy != tpl {
		t.Errorf("GET: %+v\nlegacy name: %+v", tpl, legacy)
	}
	as.apiOK("PATCH", p, `{"subject":"Your {{ application.name }} password","urlLifetimeInSeconds":3600}`, 200, &tpl)
	if tpl.Subject != "Your {{ application.name }} password" || tpl.URLLifetimeInSeconds != 3600 || !strings.Contains(tpl.Body, "{{ url }}") {
		t.Errorf("PATCH: %+v", tpl)
	}
	after := as.box.LastID()
	as.requestReset("alice@example.com")
	msg := as.box.WaitMail(t, "alice@example.com", after)
	if msg.Subject != "Your Demo App password" || !strings.Contains(msg.Text, "expires in 1 hour") {
		t.Errorf("mail after the PATCH: %q\n%s", msg.Subject, msg.Text)
	}
	var prev struct{ From, Subject, HTML, Text string }
	as.apiOK("POST", p+"/preview", `{"subject":"Preview for {{ user.name }}","body":"<p>{{ user.name }} <a href=\"{{ url }}\">go</a> ({{ url_lifetime }})</p>"}`, 200, &prev)
	if prev.Subject != "Preview for Jane Doe" || !strings.Contains(prev.HTML, base+"/lo/reset?ticket=PREVIEW") ||
		!strings.Contains(prev.HTML, "(1 hour)") || prev.From != "Example <no-reply@example.com>" {
		t.Errorf("preview: %+v", prev)
	}
	as.apiOK("PUT", p, `{"template":"reset_email","body":"<p>Hi {{ user.name }}: <a href=\"{{ url }}\">reset</a></p>","from":"Ops <ops@example.com>","subject":"Put subject","syntax":"liquid","enabled":true}`, 200, &tpl)
	if tpl.Subject != "Put subject" || tpl.From != "Ops <ops@example.com>" || tpl.URLLifetimeInSeconds != defaultLifetime {
		t.Errorf("PUT: %+v", tpl)
	}
	var versions []versionJSON
	as.apiOK("GET", p+"/versions", "", 200, &versions)
	if len(versions) != 3 || versions[0].Version != 3 || versions[0].Author != "ops" || versions[0].Source != "api" ||
		versions[2].Source != "caddyfile" {
		t.Fatalf("versions: %+v", versions)
	}

	// Refusals change nothing.
	cases := []struct {
		name, method, body string
		status             int
		mention            string
	}{
		{"syntax error", "PATCH", `{"body":"<p>ok</p>\n<p>{% if user.name %}unclosed</p>"}`, 400, "body, line 2"},
		{"unknown variable", "PATCH", `{"body":"<p>{{ user.nmae }}</p>"}`, 400, "undefined variable"},
		{"include reads files", "PATCH", `{"body":"{% include '/etc/passwd' %}"}`, 400, "not allowed"},
		{"render reads files", "PATCH", `{"subject":"{% render 'x' %}"}`, 400, "subject"},
		{"unknown filter", "PATCH", `{"body":"{{ url | system }}"}`, 400, "body"},
		{"syntax error in the text part", "PATCH", `{"text":"line one\n{% if url %}unclosed"}`, 400, "text, line 2"},
		{"PUT without a body", "PUT", `{"subject":"x"}`, 400, "body"},
		{"other syntax", "PATCH", `{"syntax":"handlebars"}`, 400, "liquid"},
		{"header injection in from", "PATCH", `{"from":"ops@example.com\r\nBcc: eve@evil.test"}`, 400, "one line"},
		{"from not an address", "PATCH", `{"from":"not an address"}`, 400, "not an email address"},
		{"open redirect", "PATCH", `{"resultUrl":"https://evil.example/"}`, 400, "allowed_urls"},
		{"lifetime too short", "PATCH", `{"urlLifetimeInSeconds":10}`, 400, "urlLifetimeInSeconds"},
		{"template names another", "PATCH", `{"template":"verify_email"}`, 400, "template"},
		{"unknown field", "PATCH", `{"colour":"blue"}`, 400, "Additional properties"},
		{"enabled as a string", "PATCH", `{"enabled":"yes"}`, 400, "boolean"},
		{"oversized body", "PATCH", `{"body":"` + strings.Repeat("a", 140<<10) + `"}`, 413, "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			as.t = t
			defer func() { as.t = as.stack.t }()
			as.apiErr(c.method, p, adminToken, c.body, c.status, "", c.mention)
		})
	}
	as.apiErr("GET", "/api/v2/email-templates/verify_email", adminToken, "", 404, "inexistent_email_template", "does not exist")
	as.apiErr("GET", "/api/v2/email-templates/..%2f..%2fetc", adminToken, "", 404, "", "")
	as.apiErr("POST", p+"/preview", adminToken, `{"body":"{{ nope }}"}`, 400, "invalid_template", "undefined variable")
	as.apiOK("GET", p+"/versions", "", 200, &versions)
	if len(versions) != 3 {
		t.Fatalf("a refused template was stored: %d versions", len(versions))
	}

	// Restore version 1 (the Caddyfile's seed) as version 4.
	var restored versionJSON
	as.apiOK("POST", p+"/versions/1/restore", "", 200, &restored)
	if restored.Version != 4 || restored.RestoredFrom != 1 || restored.Template.Subject != versions[2].Template.Subject {
		t.Errorf("restore: %+v", restored)
	}
	as.apiOK("GET", p, "", 200, &tpl)
	if tpl.Subject != versions[2].Template.Subject {
		t.Errorf("after restore, subject %q", tpl.Subject)
	}
	as.apiErr("POST", p+"/versions/99/restore", adminToken, "", 404, "inexistent_version", "no version 99")
	as.apiErr("POST", p+"/versions/abc/restore", adminToken, "", 400, "invalid_uri", "version")
	if e := as.audit(); e[0].Type != "admin_template" || !strings.Contains(e[0].Description, "restored") {
		t.Errorf("audit: %+v", e[0])
	}
}

// TestTemplateSeedVersusRuntimeEdit: the documented rule, the most recent change
// wins. A runtime edit survives a reload of an unchanged Caddyfile; a changed
// Caddyfile template then wins over the runtime edit.
func TestTemplateSeedVersusRuntimeEdit(t *testing.T) {
	as := newAdminStack(t, "\t\temail reset_email {\n\t\t\tsubject \"Seeded subject\"\n\t\t}")
	const p = "/api/v2/email-templates/reset_email"
	var tpl templateJSON
	as.apiOK("GET", p, "", 200, &tpl)
	if tpl.Subject != "Seeded subject" {
		t.Fatalf("seeded subject %q", tpl.Subject)
	}
	as.apiOK("PATCH", p, `{"subject":"Runtime subject"}`, 200, nil)
	as.load() // a reload with the same Caddyfile
	as.apiOK("GET", p, "", 200, &tpl)
	if tpl.Subject != "Runtime subject" {
		t.Errorf("after reloading an unchanged Caddyfile: %q, want the runtime edit", tpl.Subject)
	}
	as.options = "\t\temail reset_email {\n\t\t\tsubject \"Seeded again\"\n\t\t}"
	as.load()
	as.apiOK("GET", p, "", 200, &tpl)
	if tpl.Subject != "Seeded again" {
		t.Errorf("after changing the Caddyfile's template: %q, want the Caddyfile's", tpl.Subject)
	}
	var versions []versionJSON
	as.apiOK("GET", p+"/versions", "", 200, &versions)
	if len(versions) != 3 || versions[0].Source != "caddyfile" || versions[1].Author != "ops" {
		t.Errorf("versions: %+v", versions)
	}
}

// TestAdminOutboxAndLogs: a message the relay refuses for good is listed as
// failed with its recipient masked; once the relay is fixed, retry sends it. The
// audit log pages newest first.
func TestAdminOutboxAndLogs(t *testing.T) {
	// A relay that refuses every recipient for good (550 at RCPT TO).
	strict := testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox: " + to}
	}})
	addr := strict.Addr
	as := newAdminStackWithRelay(t, addr)
	as.requestReset("alice@example.com")
	var failed []struct {
		ID        string   `json:"id"`
		State     string   `json:"state"`
		To        []string `json:"to"`
		Template  string   `json:"template"`
		LastError string   `json:"last_error"`
	}
	testenv.Eventually(t, "the refused mail to fail", func() (bool, error) {
		as.apiOK("GET", "/api/v2/outbox?state=failed", "", 200, &failed)
		return len(failed) == 1, nil
	})
	if f := failed[0]; f.To[0] != "a***@example.com" || f.Template != "reset_email" || !strings.Contains(f.LastError, "550") ||
		strings.Contains(f.LastError, "alice") {
		t.Errorf("failed message: %+v", f)
	}
	as.apiErr("GET", "/api/v2/outbox?state=lost", adminToken, "", 400, "invalid_query_string", "state")
	as.apiErr("POST", "/api/v2/outbox/no-such-id/retry", adminToken, "", 404, "inexistent_message", "No such message")
	// The relay is fixed: a good one on the same address.
	strict.Close()
	as.box = testenv.StartMailboxAt(t, addr)
	as.apiOK("POST", "/api/v2/outbox/"+failed[0].ID+"/retry", "", 200, nil)
	as.box.WaitMail(t, "alice@example.com", 0)
	var sent []struct {
		ID    string   `json:"id"`
		State string   `json:"state"`
		To    []string `json:"to"`
	}
	testenv.Eventually(t, "the message to be recorded as sent", func() (bool, error) {
		as.apiOK("GET", "/api/v2/outbox?state=sent", "", 200, &sent)
		return len(sent) == 1, nil
	})
	if sent[0].ID != failed[0].ID || sent[0].To[0] != "a***@example.com" {
		t.Errorf("sent: %+v", sent)
	}
	as.apiErr("POST", "/api/v2/outbox/"+failed[0].ID+"/retry", adminToken, "", 404, "inexistent_message", "")

	// The log, newest first, in pages.
	as.apiOK("PATCH", "/api/v2/email-templates/reset_email", `{"subject":"one"}`, 200, nil)
	as.apiOK("PATCH", "/api/v2/email-templates/reset_email", `{"subject":"two"}`, 200, nil)
	var page struct {
		Start, Limit, Length, Total int
		Logs                        []auditEntry
	}
	as.apiOK("GET", "/api/v2/logs?page=1&per_page=1&include_totals=true&q="+url.QueryEscape("type:(admin_outbox OR admin_template)"), "", 200, &page)
	if page.Total != 3 || page.Length != 1 || page.Start != 1 || !strings.Contains(page.Logs[0].Description, "version") {
		t.Errorf("page 1: %+v", page)
	}
	entries := as.audit()
	if len(entries) != 3 || entries[0].Date < entries[1].Date || entries[2].Type != "admin_outbox" || entries[2].Target != failed[0].ID {
		t.Errorf("log: %+v", entries)
	}
	for _, q := range []string{"per_page=abc", "per_page=1000", "page=-1", "colour=blue", "page=1&page=2"} {
		as.apiErr("GET", "/api/v2/logs?"+q, adminToken, "", 400, "invalid_query_string", "")
	}
}

// newAdminStackWithRelay is newAdminStack mailing to the SMTP server at relay,
// with no catcher.
func newAdminStackWithRelay(t *testing.T, relay string) *adminStack {
	t.Helper()
	s := &stack{relay: relay}
	s.start(t)
	as := &adminStack{stack: s, admin: testenv.NoRedirects()}
	as.load()
	return as
}

// TestRightTokenNotLockedOut (issue 8 item 12): ten wrong tokens from one
// address (a NAT's, say) do not lock the right token out: it is checked before
// the failure counter, which counts failures only. The next wrong token from
// that address is refused with 429 until the bucket refills.
func TestRightTokenNotLockedOut(t *testing.T) {
	as := newAdminStack(t, "")
	for i := range 10 {
		resp, _ := as.api("GET", "/api/v2/logs", "wrong-token-0123456789abcdef", "")
		if resp.StatusCode != 401 {
			t.Fatalf("wrong token %d: %d", i+1, resp.StatusCode)
		}
	}
	for i := range 3 {
		if resp, body := as.api("GET", "/api/v2/logs", adminToken, ""); resp.StatusCode != 200 {
			t.Fatalf("the right token after ten wrong ones (call %d): %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, _ := as.api("GET", "/api/v2/logs", "wrong-token-0123456789abcdef", "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("an eleventh wrong token: %d, want 429 with Retry-After", resp.StatusCode)
	}
}
