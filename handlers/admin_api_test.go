package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// The Management API (admin_api.go): each route's good answer, and its
// refusals in Auth0's shape {statusCode, error, message, errorCode}.

// apiRefusal is a call and the refusal it must get.
type apiRefusal struct {
	name, method, path string
	contentType        string // "" : JSON
	body               string
	status             int
	code, message      string
}

func (a *adminEnv) wantRefusals(t *testing.T, cases []apiRefusal) {
	t.Helper()
	for _, tt := range cases {
		ct := tt.contentType
		if ct == "" && tt.body != "" {
			ct = ctJSON
		}
		wantMgmtError(t, tt.name, a.apiRaw(t, tt.method, tt.path, ct, tt.body), tt.status, tt.code, tt.message)
	}
}

// decodeOK checks a 2xx answer's status and decodes its JSON body into v.
func decodeOK(t *testing.T, what string, got fetched, status int, v any) {
	t.Helper()
	if got.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", what, got.StatusCode, got.body, status)
	}
	decodeJSON(t, what, got, v)
}

const ticketsPath = "/api/v2/tickets/password-change"

// TestAPICreateTicket: POST /api/v2/tickets/password-change makes a working
// link for a user named by id or by email and connection, for the lifetime
// asked; every malformed or impossible request is refused and makes none.
func TestAPICreateTicket(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	for _, tt := range []struct {
		name, body, email string
		ttl               time.Duration
	}{
		{"by user_id", `{"user_id":"user-alice"}`, "alice@example.com", 0},
		{"by email and connection", `{"email":"bob@example.com","connection_id":"` + testenv.Conn + `"}`, "bob@example.com", 0},
		{"with a lifetime and a client", `{"user_id":"user-bob","ttl_sec":600,"client_id":"demo-app","mark_email_as_verified":true,"includeEmailInRedirect":false}`, "bob@example.com", 10 * time.Minute},
		{"with nulls", `{"user_id":"user-alice","ttl_sec":null,"client_id":null}`, "alice@example.com", 0},
	} {
		var issued map[string]string
		decodeOK(t, tt.name, a.api(t, http.MethodPost, ticketsPath, tt.body), http.StatusCreated, &issued)
		if len(issued) != 1 || !strings.HasPrefix(issued["ticket"], "https://app.example.com/lo/reset?ticket=") {
			t.Fatalf("%s: %v, want {ticket: the link}", tt.name, issued)
		}
		info, err := a.Flow.OpenTicket(context.Background(), tokenOf(t, issued["ticket"]))
		if err != nil || info.Email != tt.email {
			t.Fatalf("%s: the ticket opens as %+v, %v", tt.name, info, err)
		}
		if tt.ttl > 0 {
			if left := time.Until(info.ExpiresAt); left > tt.ttl || left < tt.ttl-time.Minute {
				t.Errorf("%s: the ticket lives %s more, want %s", tt.name, left, tt.ttl)
			}
		}
	}
	if !auditHas(t, a.Admin, audit.TicketCreated, adminTokenName) {
		t.Error("no admin_ticket audit entry by ops")
	}

	c := `"connection_id":"` + testenv.Conn + `"`
	a.wantRefusals(t, []apiRefusal{
		{"unknown user", "POST", ticketsPath, "", `{"user_id":"user-nobody"}`, 404, "inexistent_user", "The user does not exist."},
		{"unknown address", "POST", ticketsPath, "", `{"email":"nobody@example.com",` + c + `}`, 404, "inexistent_user", ""},
		{"blocked user", "POST", ticketsPath, "", `{"user_id":"user-carol"}`, 400, "operation_not_supported", "blocked"},
		{"no user", "POST", ticketsPath, "", `{}`, 400, "invalid_body", "one of user_id, or email with connection_id, is required"},
		{"email without connection", "POST", ticketsPath, "", `{"email":"alice@example.com"}`, 400, "invalid_body", "connection_id"},
		{"connection without email", "POST", ticketsPath, "", `{` + c + `}`, 400, "invalid_body", "email"},
		{"user_id and email", "POST", ticketsPath, "", `{"user_id":"user-alice","email":"alice@example.com",` + c + `}`, 400, "invalid_body", "cannot be used with"},
		{"unknown connection", "POST", ticketsPath, "", `{"email":"alice@example.com","connection_id":"nope"}`, 400, "invalid_body", "Connection does not exist: nope"},
		{"social connection", "POST", ticketsPath, "", `{"email":"alice@example.com","connection_id":"google-oauth2"}`, 400, "operation_not_supported", "social"},
		{"unknown client", "POST", ticketsPath, "", `{"user_id":"user-alice","client_id":"nope"}`, 400, "invalid_body", "Unknown client: nope"},
		{"result_url not allowed", "POST", ticketsPath, "", `{"user_id":"user-alice","result_url":"https://evil.example/"}`, 400, "invalid_body", "result_url"},
		{"identity", "POST", ticketsPath, "", `{"user_id":"user-alice","identity":{"user_id":"x"}}`, 400, "invalid_body", "identity (a secondary identity) is not supported"},
		{"new_password", "POST", ticketsPath, "", `{"user_id":"user-alice","new_password":"x"}`, 400, "invalid_body", "new_password is not supported"},
		{"unknown field", "POST", ticketsPath, "", `{"user_id":"user-alice","colour":"blue"}`, 400, "invalid_body", "Additional properties not allowed: colour"},
		{"ttl_sec a string", "POST", ticketsPath, "", `{"user_id":"user-alice","ttl_sec":"600"}`, 400, "invalid_body", `field "ttl_sec" must be an integer, not a string`},
		{"ttl_sec a fraction", "POST", ticketsPath, "", `{"user_id":"user-alice","ttl_sec":1.5}`, 400, "invalid_body", "must be an integer"},
		{"ttl_sec negative", "POST", ticketsPath, "", `{"user_id":"user-alice","ttl_sec":-1}`, 400, "invalid_body", "ttl_sec must be between 0"},
		{"ttl_sec too long", "POST", ticketsPath, "", `{"user_id":"user-alice","ttl_sec":2592001}`, 400, "invalid_body", "ttl_sec must be between 0"},
		{"boolean a string", "POST", ticketsPath, "", `{"user_id":"user-alice","mark_email_as_verified":"yes"}`, 400, "invalid_body", "must be a boolean"},
		{"user_id an array", "POST", ticketsPath, "", `{"user_id":["user-alice"]}`, 400, "invalid_body", "must be a string, not an array"},
		{"repeated field", "POST", ticketsPath, "", `{"user_id":"user-bob","user_id":"user-alice"}`, 400, "invalid_body", "appears more than once"},
		{"case-variant field", "POST", ticketsPath, "", `{"user_id":"user-bob","User_Id":"user-alice"}`, 400, "invalid_body", "appears more than once"},
		{"not JSON", "POST", ticketsPath, "", `{"user_id":`, 400, "invalid_body", "not valid JSON"},
		{"two objects", "POST", ticketsPath, "", `{"user_id":"user-alice"}{}`, 400, "invalid_body", "exactly one JSON object"},
		{"not an object", "POST", ticketsPath, "", `"user-alice"`, 400, "invalid_body", "must be a JSON object"},
		{"invalid UTF-8", "POST", ticketsPath, "", "{\"user_id\":\"user-\xff\"}", 400, "invalid_body", "not valid UTF-8"},
		{"a form", "POST", ticketsPath, ctForm, "user_id=user-alice", 400, "invalid_body", "Content-Type must be application/json"},
		{"too large", "POST", ticketsPath, "", `{"user_id":"` + strings.Repeat("u", maxAdminBody) + `"}`, 413, "payload_too_large", "larger than 8192 bytes"},
		{"GET", "GET", ticketsPath, "", "", 405, "method_not_allowed", "GET is not allowed here"},
	})
	if got := a.api(t, http.MethodGet, ticketsPath, ""); got.Header.Get("Allow") != "POST" {
		t.Errorf("Allow %q, want POST", got.Header.Get("Allow"))
	}
}

// TestAPIUpdateUser: PATCH /api/v2/users/{id} sets the password through the
// app and answers the user as Auth0 does; the policy's refusal, the app's, an
// unknown user and every other field are refused.
func TestAPIUpdateUser(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	var user struct {
		UserID        string `json:"user_id"`
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
		Blocked       bool   `json:"blocked"`
		Identities    []struct {
			Connection, Provider string
			UserID               string `json:"user_id"`
			IsSocial             bool   `json:"isSocial"`
		} `json:"identities"`
	}
	decodeOK(t, "set bob's password", a.api(t, http.MethodPatch, "/api/v2/users/user-bob", `{"password":"`+goodPassword+`"}`), http.StatusOK, &user)
	if user.UserID != "user-bob" || user.Email != "bob@example.com" || !user.EmailVerified || user.Name != "Bob" || user.Blocked ||
		len(user.Identities) != 1 || user.Identities[0].Connection != testenv.Conn || user.Identities[0].Provider != "auth0" ||
		user.Identities[0].UserID != "user-bob" || user.Identities[0].IsSocial {
		t.Errorf("the answer: %+v", user)
	}
	if !a.App.CheckPassword("bob@example.com", goodPassword) {
		t.Error("the app did not get the password")
	}
	if got := a.api(t, http.MethodPatch, "/api/v2/users/user-alice", `{"password":"Another-Horse-7-battery","connection":"`+testenv.Conn+`"}`); got.StatusCode != http.StatusOK {
		t.Errorf("with the connection named: %d %s", got.StatusCode, got.body)
	}
	if !auditHas(t, a.Admin, audit.PasswordSet, adminTokenName) {
		t.Error("no admin_password audit entry by ops")
	}

	p := "/api/v2/users/user-alice"
	a.wantRefusals(t, []apiRefusal{
		{"weak password", "PATCH", p, "", `{"password":"abc"}`, 400, "invalid_password", "PasswordStrengthError"},
		{"the app's refusal", "PATCH", p, "", `{"password":"Another-Horse-7-battery"}`, 400, "password_refused", "The app refused the password"},
		{"no password", "PATCH", p, "", `{"connection":"` + testenv.Conn + `"}`, 400, "invalid_body", "password is required"},
		{"empty password", "PATCH", p, "", `{"password":""}`, 400, "invalid_body", "password must not be empty"},
		{"password a number", "PATCH", p, "", `{"password":12345678901}`, 400, "invalid_body", "must be a string, not a number"},
		{"email", "PATCH", p, "", `{"email":"eve@example.com"}`, 400, "invalid_body", "email lives in your app"},
		{"blocked", "PATCH", p, "", `{"password":"` + goodPassword + `","blocked":true}`, 400, "invalid_body", "blocked lives in your app"},
		{"unknown field", "PATCH", p, "", `{"password":"` + goodPassword + `","colour":"blue"}`, 400, "invalid_body", "Additional properties not allowed"},
		{"unknown user", "PATCH", "/api/v2/users/user-nobody", "", `{"password":"` + goodPassword + `"}`, 404, "inexistent_user", "The user does not exist."},
		{"unknown connection", "PATCH", p, "", `{"password":"` + goodPassword + `","connection":"nope"}`, 400, "invalid_body", "Connection does not exist"},
		{"social connection", "PATCH", p, "", `{"password":"` + goodPassword + `","connection":"google-oauth2"}`, 400, "operation_not_supported", ""},
		{"no id", "PATCH", "/api/v2/users/", "", `{"password":"` + goodPassword + `"}`, 404, "not_found", "Not Found"},
		{"PUT", "PUT", p, "", `{"password":"` + goodPassword + `"}`, 405, "method_not_allowed", ""},
		{"DELETE", "DELETE", p, "", "", 405, "method_not_allowed", ""},
	})
	if !a.App.CheckPassword("alice@example.com", "Another-Horse-7-battery") {
		t.Error("a refused call changed alice's password")
	}
}

// TestAPIFaultKinds: a user id that two connections know is ambiguous (400),
// and an app that cannot be reached is a 503 with Retry-After, for a ticket and
// for a password.
func TestAPIFaultKinds(t *testing.T) {
	st := testenv.NewStackWith(t, testenv.StackOptions{Configure: func(s *testenv.Stack, c *service.Config) {
		other := &connection.Upstream{Connection: "Other-DB", Secret: s.Upstream.Secret,
			GetUserURL: s.Upstream.GetUserURL, ChangePasswordURL: s.Upstream.ChangePasswordURL}
		c.Site.Connections["Other-DB"] = &reset.Connection{Name: "Other-DB", Kind: users.Database,
			Policy: c.Site.Connections[testenv.Conn].Policy, Users: connection.NewDirectory("Other-DB", other)}
	}})
	a := serveAdmin(t, st, AdminConfig{})
	body := `{"password":"` + goodPassword + `"}`
	a.wantRefusals(t, []apiRefusal{
		{"ticket, ambiguous id", "POST", ticketsPath, "", `{"user_id":"user-bob"}`, 400, "ambiguous_user", "name the connection"},
		{"password, no connection", "PATCH", "/api/v2/users/user-bob", "", body, 400, "invalid_body", "connection is required when several database connections are configured"},
	})
	if got := a.api(t, http.MethodPost, ticketsPath, `{"user_id":"user-bob","connection_id":"Other-DB"}`); got.StatusCode != http.StatusBadRequest {
		t.Errorf("user_id with connection_id: %d, want Auth0's 400", got.StatusCode)
	}
	a.App.Stop()
	for _, tt := range []apiRefusal{
		{"ticket, app down", "POST", ticketsPath, "", `{"email":"bob@example.com","connection_id":"Other-DB"}`, 503, "temporarily_unavailable", "did not answer the user lookup"},
		{"password, app down", "PATCH", "/api/v2/users/user-bob", "", `{"password":"` + goodPassword + `","connection":"Other-DB"}`, 503, "temporarily_unavailable", "nothing was changed"},
	} {
		got := a.api(t, tt.method, tt.path, tt.body)
		wantMgmtError(t, tt.name, got, tt.status, tt.code, tt.message)
		if got.Header.Get("Retry-After") != "5" {
			t.Errorf("%s: Retry-After %q, want 5", tt.name, got.Header.Get("Retry-After"))
		}
	}
}

// templateJSON is a template as the API answers it.
type templateJSON struct {
	Template, Body, From, Subject, Syntax string
	ResultURL                             string `json:"resultUrl"`
	URLLifetimeInSeconds                  int    `json:"urlLifetimeInSeconds"`
	Enabled                               bool
}

// TestAPIEmailTemplates: GET, PUT and PATCH of a template, its preview (which
// stores nothing), its versions newest first and their restore, and the
// refusals of each.
func TestAPIEmailTemplates(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	const p = "/api/v2/email-templates/reset_email"
	var tpl templateJSON
	decodeOK(t, "GET", a.api(t, http.MethodGet, p, ""), http.StatusOK, &tpl)
	if tpl.Template != "reset_email" || tpl.Syntax != "liquid" || !strings.Contains(tpl.Body, "{{ url }}") {
		t.Errorf("GET: %+v", tpl)
	}
	decodeOK(t, "GET by Auth0's legacy name", a.api(t, http.MethodGet, "/api/v2/email-templates/change_password", ""), http.StatusOK, &tpl)
	if tpl.Template != "reset_email" {
		t.Errorf("change_password is %q, want reset_email", tpl.Template)
	}

	decodeOK(t, "PATCH", a.api(t, http.MethodPatch, p, `{"subject":"Reset it"}`), http.StatusOK, &tpl)
	if tpl.Subject != "Reset it" || !strings.Contains(tpl.Body, "{{ url }}") {
		t.Errorf("PATCH kept the body and changed the subject? %+v", tpl)
	}
	decodeOK(t, "PUT", a.api(t, http.MethodPut, p, `{"body":"<p>{{ url }}</p>","subject":"Only this","urlLifetimeInSeconds":600}`), http.StatusOK, &tpl)
	if tpl.Body != "<p>{{ url }}</p>" || tpl.Subject != "Only this" || tpl.URLLifetimeInSeconds != 600 || !tpl.Enabled || tpl.Syntax != "liquid" {
		t.Errorf("PUT: %+v", tpl)
	}

	var preview admin.Preview
	decodeOK(t, "preview", a.api(t, http.MethodPost, p+"/preview", `{"subject":"Hello {{ application.name }}"}`), http.StatusOK, &preview)
	if preview.Subject != "Hello Demo App" || !strings.Contains(preview.HTML, "PREVIEW-NOT-A-REAL-TICKET") || preview.Text == "" || preview.From == "" {
		t.Errorf("preview: %+v", preview)
	}

	var versions []admin.TemplateVersion
	decodeOK(t, "versions", a.api(t, http.MethodGet, p+"/versions", ""), http.StatusOK, &versions)
	if len(versions) < 2 || versions[0].Template.Subject != "Only this" || versions[0].Version <= versions[1].Version ||
		versions[0].Source != "api" || versions[0].Author != adminTokenName {
		t.Fatalf("versions after a PATCH and a PUT (the preview stores none): %+v", versions)
	}
	patched := versions[1]
	var restored admin.TemplateVersion
	decodeOK(t, "restore", a.api(t, http.MethodPost, p+"/versions/"+strconv.Itoa(patched.Version)+"/restore", ""), http.StatusOK, &restored)
	if restored.RestoredFrom != patched.Version || restored.Source != "restore" || restored.Template.Subject != "Reset it" || restored.Version != versions[0].Version+1 {
		t.Errorf("restore of version %d: %+v", patched.Version, restored)
	}
	var other []admin.TemplateVersion
	decodeOK(t, "versions of another template", a.api(t, http.MethodGet, "/api/v2/email-templates/password_changed/versions", ""), http.StatusOK, &other)
	if len(other) != 1 || other[0].Version != 1 || other[0].Template.Template != "password_changed" {
		t.Errorf("password_changed's versions, want its seed alone: %+v", other)
	}

	nope := "/api/v2/email-templates/nope"
	a.wantRefusals(t, []apiRefusal{
		{"GET unknown", "GET", nope, "", "", 404, "inexistent_email_template", "The template does not exist: nope"},
		{"PATCH unknown", "PATCH", nope, "", `{"subject":"x"}`, 404, "inexistent_email_template", ""},
		{"versions of unknown", "GET", nope + "/versions", "", "", 404, "inexistent_email_template", ""},
		{"restore of unknown", "POST", nope + "/versions/1/restore", "", "", 404, "inexistent_email_template", ""},
		{"PUT without body", "PUT", p, "", `{"subject":"x"}`, 400, "invalid_body", "Missing required property: body"},
		{"PATCH a broken template", "PATCH", p, "", `{"body":"{% if %}"}`, 400, "invalid_template", "The template was not saved"},
		{"PATCH another template's name", "PATCH", p, "", `{"template":"password_changed"}`, 400, "invalid_body", `template is "password_changed"`},
		{"PATCH syntax", "PATCH", p, "", `{"syntax":"handlebars"}`, 400, "invalid_body", `syntax must be "liquid"`},
		{"PATCH a lifetime too short", "PATCH", p, "", `{"urlLifetimeInSeconds":59}`, 400, "invalid_body", "urlLifetimeInSeconds must be between 60"},
		{"PATCH a lifetime as text", "PATCH", p, "", `{"urlLifetimeInSeconds":"600"}`, 400, "invalid_body", "must be an integer"},
		{"PATCH a foreign result URL", "PATCH", p, "", `{"resultUrl":"https://evil.example/"}`, 400, "invalid_body", "resultUrl"},
		{"PATCH a bad from", "PATCH", p, "", `{"from":"not an address"}`, 400, "invalid_body", "from is not an email address"},
		{"PATCH unknown field", "PATCH", p, "", `{"colour":"blue"}`, 400, "invalid_body", "Additional properties not allowed: colour"},
		{"PATCH too large", "PATCH", p, "", `{"body":"` + strings.Repeat("b", maxTemplateBody) + `"}`, 413, "payload_too_large", ""},
		{"preview a broken template", "POST", p + "/preview", "", `{"body":"{% if %}"}`, 400, "invalid_template", ""},
		{"restore version 0", "POST", p + "/versions/0/restore", "", "", 400, "invalid_uri", "version must be a positive integer"},
		{"restore version abc", "POST", p + "/versions/abc/restore", "", "", 400, "invalid_uri", "version must be a positive integer"},
		{"restore a missing version", "POST", p + "/versions/99/restore", "", "", 404, "inexistent_version", "has no version 99"},
		{"DELETE", "DELETE", p, "", "", 405, "method_not_allowed", ""},
	})
	var after templateJSON
	decodeOK(t, "GET after the refusals", a.api(t, http.MethodGet, p, ""), http.StatusOK, &after)
	if after.Subject != "Reset it" {
		t.Errorf("a refusal changed the template: %+v", after)
	}
}

// versionIn returns the version number an audit entry's description names.
func versionIn(description string) int {
	_, v, _ := strings.Cut(description, "version ")
	n, _ := strconv.Atoi(strings.Fields(v + " x")[0])
	return n
}

// TestAPILogs: GET /api/v2/logs pages the audit log newest first, with Auth0's
// totals on request; its query is strict. Each PATCH leaves its own entry and
// the sapi entry of the call: q picks the former.
func TestAPILogs(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	for _, s := range []string{"one", "two", "three"} {
		if got := a.api(t, http.MethodPatch, "/api/v2/email-templates/reset_email", `{"subject":"`+s+`"}`); got.StatusCode != http.StatusOK {
			t.Fatalf("PATCH: %d %s", got.StatusCode, got.body)
		}
	}
	const changes = "/api/v2/logs?q=type:admin_template"
	var all []admin.AuditEntry
	decodeOK(t, "all", a.api(t, http.MethodGet, changes, ""), http.StatusOK, &all)
	if len(all) != 3 || versionIn(all[0].Description) <= versionIn(all[1].Description) || versionIn(all[1].Description) <= versionIn(all[2].Description) {
		t.Fatalf("the log, want the three changes newest first: %+v", all)
	}
	type page struct {
		Start, Limit, Length, Total int
		Logs                        []admin.AuditEntry
	}
	var first, second page
	decodeOK(t, "page 0", a.api(t, http.MethodGet, changes+"&page=0&per_page=2&include_totals=true", ""), http.StatusOK, &first)
	decodeOK(t, "page 1", a.api(t, http.MethodGet, changes+"&page=1&per_page=2&include_totals=true", ""), http.StatusOK, &second)
	if first.Start != 0 || first.Limit != 2 || first.Length != 2 || first.Total != 3 || first.Logs[0].ID != all[0].ID || first.Logs[1].ID != all[1].ID {
		t.Errorf("page 0: %+v", first)
	}
	if second.Start != 2 || second.Length != 1 || second.Total != 3 || second.Logs[0].ID != all[2].ID {
		t.Errorf("page 1: %+v", second)
	}
	var beyond []admin.AuditEntry
	decodeOK(t, "beyond the end", a.api(t, http.MethodGet, "/api/v2/logs?page=5&per_page=2", ""), http.StatusOK, &beyond)
	if beyond == nil || len(beyond) != 0 {
		t.Errorf("a page beyond the end: %v, want []", beyond)
	}
	a.wantRefusals(t, []apiRefusal{
		{"per_page over 100", "GET", "/api/v2/logs?per_page=101", "", "", 400, "invalid_query_string", "per_page must be at most 100"},
		{"negative page", "GET", "/api/v2/logs?page=-1", "", "", 400, "invalid_query_string", "page must be a non-negative integer"},
		{"page not a number", "GET", "/api/v2/logs?page=x", "", "", 400, "invalid_query_string", "page must be a non-negative integer"},
		{"repeated page", "GET", "/api/v2/logs?page=1&page=2", "", "", 400, "invalid_query_string", "appears more than once"},
		{"unknown parameter", "GET", "/api/v2/logs?fields=type", "", "", 400, "invalid_query_string", `Query parameter "fields" is not supported here`},
		{"POST", "POST", "/api/v2/logs", "", "", 405, "method_not_allowed", "POST is not allowed here"},
		{"unknown route", "GET", "/api/v2/nope", "", "", 404, "not_found", "Not Found"},
	})
}

// TestAPIOutbox: GET /api/v2/outbox lists the mail by state with recipients
// masked; POST /api/v2/outbox/{id}/retry queues a failed message again and
// refuses any other.
func TestAPIOutbox(t *testing.T) {
	relay := startRefusingRelay(t, "bob@example.com") // bob's mail is retried, alice's fails
	a := serveAdmin(t, testenv.NewStackWith(t, testenv.StackOptions{SMTPAddr: relay}), AdminConfig{})
	for _, email := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := a.Flow.RequestReset(context.Background(), reset.Request{Email: email, Connection: testenv.Conn, IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(query string) []admin.OutboxMessage {
		var msgs []admin.OutboxMessage
		decodeOK(t, "outbox"+query, a.api(t, http.MethodGet, "/api/v2/outbox"+query, ""), http.StatusOK, &msgs)
		return msgs
	}
	var failed, retrying []admin.OutboxMessage
	testenv.Eventually(t, "alice's mail to fail and bob's to be retried", func() (bool, error) {
		failed, retrying = list("?state=failed"), list("?state=retrying")
		return len(failed) == 1 && len(retrying) == 1, nil
	})
	if f := failed[0]; len(f.To) != 1 || f.To[0] != "a***@example.com" || f.Template != "reset_email" || !strings.Contains(f.LastError, "550") ||
		strings.Contains(f.LastError, "alice") {
		t.Errorf("the failed message: %+v", f)
	}
	if r := retrying[0]; r.To[0] != "b***@example.com" || !strings.Contains(r.LastError, "451") || r.NextAttempt.IsZero() {
		t.Errorf("the retried message: %+v", r)
	}
	if all := list(""); len(all) != 2 {
		t.Errorf("every state: %+v", all)
	}
	if sent := list("?state=sent"); sent == nil || len(sent) != 0 {
		t.Errorf("nothing sent: %v, want []", sent)
	}

	var queued map[string]string
	decodeOK(t, "retry the failed message", a.api(t, http.MethodPost, "/api/v2/outbox/"+failed[0].ID+"/retry", ""), http.StatusOK, &queued)
	if queued["id"] != failed[0].ID || queued["state"] != "queued" {
		t.Errorf("retry: %v", queued)
	}
	if !auditHas(t, a.Admin, audit.MailRetried, adminTokenName) {
		t.Error("no admin_outbox audit entry by ops")
	}
	a.wantRefusals(t, []apiRefusal{
		{"retry an unknown message", "POST", "/api/v2/outbox/nope/retry", "", "", 404, "inexistent_message", "No such message in the outbox: nope"},
		{"retry a message not failed", "POST", "/api/v2/outbox/" + retrying[0].ID + "/retry", "", "", 409, "not_failed", "Only a failed message can be retried"},
		{"unknown state", "GET", "/api/v2/outbox?state=lost", "", "", 400, "invalid_query_string", "state must be queued, retrying, failed or sent"},
		{"repeated state", "GET", "/api/v2/outbox?state=failed&state=sent", "", "", 400, "invalid_query_string", "appears more than once"},
		{"unknown parameter", "GET", "/api/v2/outbox?page=1", "", "", 400, "invalid_query_string", "unknown query parameter page"},
		{"GET retry", "GET", "/api/v2/outbox/" + failed[0].ID + "/retry", "", "", 405, "method_not_allowed", ""},
	})
}
