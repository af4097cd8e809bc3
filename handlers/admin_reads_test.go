package handlers

import (
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// The Management API's reads (admin_reads.go) and the log search and API
// call records (admin_logs.go): Auth0's shapes, and a refusal in Auth0's error
// shape for every query they do not understand.

// readUser is a user as the reads answer it.
type readUser struct {
	UserID        string `json:"user_id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name"`
	Blocked       bool   `json:"blocked"`
	Identities    []struct {
		Connection, Provider string
		UserID               string `json:"user_id"`
		IsSocial             bool   `json:"isSocial"`
	} `json:"identities"`
}

func (u readUser) in(conn string) bool {
	return len(u.Identities) == 1 && u.Identities[0].Connection == conn && u.Identities[0].Provider == "auth0" &&
		u.Identities[0].UserID == u.UserID && !u.Identities[0].IsSocial
}

func usersQuery(q string, extra ...string) string {
	v := url.Values{"q": {q}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "/api/v2/users?" + v.Encode()
}

// TestAPIUserReads: users by id, by email and by q, in Auth0's user shape;
// every query the app's hook cannot answer is refused, naming those it can.
func TestAPIUserReads(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	var alice readUser
	decodeOK(t, "GET users/user-alice", a.api(t, "GET", "/api/v2/users/user-alice", ""), 200, &alice)
	if alice.Email != "alice@example.com" || !alice.EmailVerified || alice.Name != "Alice Liddell" || alice.GivenName != "Alice" ||
		alice.Blocked || !alice.in(testenv.Conn) {
		t.Errorf("users/user-alice: %+v", alice)
	}
	var carol readUser
	decodeOK(t, "GET users/user-carol", a.api(t, "GET", "/api/v2/users/user-carol", ""), 200, &carol)
	if !carol.Blocked {
		t.Errorf("carol is blocked: %+v", carol)
	}
	var byEmail, none []readUser
	decodeOK(t, "users-by-email", a.api(t, "GET", "/api/v2/users-by-email?email=Bob%40example.com", ""), 200, &byEmail)
	if len(byEmail) != 1 || byEmail[0].UserID != "user-bob" || !byEmail[0].in(testenv.Conn) {
		t.Errorf("users-by-email: %+v", byEmail)
	}
	got := a.api(t, "GET", "/api/v2/users-by-email?email=nobody%40example.com", "")
	if decodeOK(t, "users-by-email for nobody", got, 200, &none); got.body != "[]\n" {
		t.Errorf("users-by-email for nobody: %q, want []", got.body)
	}
	for _, q := range []string{`email:"alice@example.com"`, `email:alice@example.com`, `user_id:"user-alice"`, `user_id:user-alice`} {
		var found []readUser
		decodeOK(t, q, a.api(t, "GET", usersQuery(q, "search_engine", "v3"), ""), 200, &found)
		if len(found) != 1 || found[0].UserID != "user-alice" || !found[0].in(testenv.Conn) {
			t.Errorf("q=%s: %+v", q, found)
		}
	}
	var page struct {
		Users                       []readUser
		Start, Limit, Length, Total int
	}
	// The auth0 npm SDK's users.list sends page=0, per_page=50 and include_totals=true unasked.
	decodeOK(t, "with totals", a.api(t, "GET", usersQuery(`user_id:"user-bob"`, "search_engine", "v3", "page", "0", "per_page", "50", "include_totals", "true"), ""), 200, &page)
	if len(page.Users) != 1 || page.Users[0].UserID != "user-bob" || page.Start != 0 || page.Limit != 50 || page.Length != 1 || page.Total != 1 {
		t.Errorf("with totals: %+v", page)
	}
	decodeOK(t, "page 1", a.api(t, "GET", usersQuery(`user_id:"user-bob"`, "page", "1", "per_page", "1", "include_totals", "true"), ""), 200, &page)
	if len(page.Users) != 0 || page.Start != 1 || page.Total != 1 {
		t.Errorf("page 1: %+v", page)
	}
	forms := `email:"<address>" or user_id:"<id>"`
	a.wantRefusals(t, []apiRefusal{
		{"unknown id", "GET", "/api/v2/users/user-nobody", "", "", 404, "inexistent_user", "The user does not exist."},
		{"fields", "GET", "/api/v2/users/user-alice?fields=email", "", "", 400, "invalid_query_string", `"fields" is not supported here`},
		{"no email", "GET", "/api/v2/users-by-email", "", "", 400, "invalid_query_string", "Missing required property: email"},
		{"a bad email", "GET", "/api/v2/users-by-email?email=nope", "", "", 400, "invalid_body", ""},
		{"two emails", "GET", "/api/v2/users-by-email?email=a%40b.example&email=c%40d.example", "", "", 400, "invalid_query_string", "more than once"},
		{"no q", "GET", "/api/v2/users", "", "", 400, "invalid_query_string", forms},
		{"another field", "GET", usersQuery(`name:"Alice"`), "", "", 400, "invalid_query_string", forms},
		{"a wildcard", "GET", usersQuery(`email:*@example.com`), "", "", 400, "invalid_query_string", "Wildcards"},
		{"two clauses", "GET", usersQuery(`email:"a@b.example" OR user_id:"x"`), "", "", 400, "invalid_query_string", "Only one clause"},
		{"search_engine v1", "GET", usersQuery(`user_id:x`, "search_engine", "v1"), "", "", 400, "invalid_query_string", "use v3"},
		{"per_page over 100", "GET", usersQuery(`user_id:x`, "per_page", "101"), "", "", 400, "invalid_query_string", "per_page must be at most 100"},
		{"include_totals yes", "GET", usersQuery(`user_id:x`, "include_totals", "yes"), "", "", 400, "invalid_query_string", "true or false"},
		{"sort", "GET", usersQuery(`user_id:x`, "sort", "email:1"), "", "", 400, "invalid_query_string", "supported: q, search_engine"},
		{"a social connection", "GET", usersQuery(`user_id:x`, "connection", "google-oauth2"), "", "", 400, "operation_not_supported", ""},
		{"POST users", "POST", "/api/v2/users", "", `{}`, 405, "method_not_allowed", ""},
		{"DELETE a user", "DELETE", "/api/v2/users/user-alice", "", "", 405, "method_not_allowed", ""},
	})
}

// connectionJSON is a connection as the API answers it.
type connectionJSON struct {
	ID, Name, Strategy string
	Options            *struct {
		PasswordPolicy            string `json:"passwordPolicy"`
		PasswordComplexityOptions struct {
			MinLength int `json:"min_length"`
		} `json:"password_complexity_options"`
		PasswordHistory struct {
			Enable bool
			Size   int
		} `json:"password_history"`
		PasswordDictionary struct {
			Enable     bool
			Dictionary []string
		} `json:"password_dictionary"`
		PasswordNoPersonalInfo struct{ Enable bool } `json:"password_no_personal_info"`
	}
	EnabledClients []string `json:"enabled_clients"`
	Realms         []string
}

// TestAPIConnections: the connections, read-only, in Auth0's shape, with its
// filters and both pagings; a ticket's connection_id takes the id.
func TestAPIConnections(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	db, _ := a.Admin.Site().ConnectionByRef(testenv.Conn)
	var all []connectionJSON
	decodeOK(t, "GET connections", a.api(t, "GET", "/api/v2/connections", ""), 200, &all)
	if len(all) != 2 {
		t.Fatalf("connections: %+v", all)
	}
	var one connectionJSON
	decodeOK(t, "GET connections/{id}", a.api(t, "GET", "/api/v2/connections/"+db.ID(), ""), 200, &one)
	o := one.Options
	if one.ID != db.ID() || one.Name != testenv.Conn || one.Strategy != "auth0" || o == nil || o.PasswordPolicy != "good" ||
		o.PasswordComplexityOptions.MinLength != 8 || o.PasswordHistory.Enable || o.PasswordDictionary.Enable || o.PasswordDictionary.Dictionary == nil ||
		o.PasswordNoPersonalInfo.Enable || len(one.EnabledClients) != 1 || one.EnabledClients[0] != "demo-app" || len(one.Realms) != 1 {
		t.Errorf("the database connection: %+v %+v", one, o)
	}
	var filtered []connectionJSON
	decodeOK(t, "strategy=auth0", a.api(t, "GET", "/api/v2/connections?strategy=auth0&strategy=ad", ""), 200, &filtered)
	if len(filtered) != 1 || filtered[0].ID != db.ID() {
		t.Errorf("strategy=auth0: %+v", filtered)
	}
	var social []connectionJSON
	decodeOK(t, "name=google-oauth2", a.api(t, "GET", "/api/v2/connections?name=google-oauth2", ""), 200, &social)
	if len(social) != 1 || social[0].Strategy != "social" || social[0].Options != nil {
		t.Errorf("name=google-oauth2: %+v", social)
	}
	var totals struct {
		Connections         []connectionJSON
		Start, Limit, Total int
	}
	decodeOK(t, "include_totals", a.api(t, "GET", "/api/v2/connections?include_totals=true&per_page=1&page=1", ""), 200, &totals)
	if len(totals.Connections) != 1 || totals.Connections[0].ID != all[1].ID || totals.Start != 1 || totals.Limit != 1 || totals.Total != 2 {
		t.Errorf("include_totals, page 1 of 1: %+v", totals)
	}
	// The SDK's connections.list sends include_totals=true and take=50 unasked.
	var first, rest struct {
		Connections []connectionJSON
		Next        string
	}
	decodeOK(t, "take=1", a.api(t, "GET", "/api/v2/connections?include_totals=true&take=1", ""), 200, &first)
	decodeOK(t, "from=next", a.api(t, "GET", "/api/v2/connections?take=1&from="+first.Next, ""), 200, &rest)
	if len(first.Connections) != 1 || first.Connections[0].ID != all[0].ID || first.Next != all[1].ID ||
		len(rest.Connections) != 1 || rest.Connections[0].ID != all[1].ID || rest.Next != "" {
		t.Errorf("checkpoint paging: %+v then %+v", first, rest)
	}
	var ticket map[string]string
	decodeOK(t, "a ticket by connection id", a.api(t, "POST", ticketsPath, `{"email":"bob@example.com","connection_id":"`+db.ID()+`"}`), 201, &ticket)
	a.wantRefusals(t, []apiRefusal{
		{"unknown id", "GET", "/api/v2/connections/con_0000000000000000", "", "", 404, "inexistent_connection", "does not exist"},
		{"from unknown", "GET", "/api/v2/connections?from=con_0000000000000000", "", "", 400, "invalid_query_string", "from must be the id"},
		{"from with page", "GET", "/api/v2/connections?take=1&page=0", "", "", 400, "invalid_query_string", "cannot be combined"},
		{"take over 100", "GET", "/api/v2/connections?take=101", "", "", 400, "invalid_query_string", "take must be at most 100"},
		{"fields", "GET", "/api/v2/connections?fields=name", "", "", 400, "invalid_query_string", "not supported here"},
		{"two names", "GET", "/api/v2/connections?name=a&name=b", "", "", 400, "invalid_query_string", "more than once"},
		{"create", "POST", "/api/v2/connections", "", `{"name":"x","strategy":"auth0"}`, 405, "method_not_allowed", ""},
		{"update", "PATCH", "/api/v2/connections/" + db.ID(), "", `{}`, 405, "method_not_allowed", ""},
		{"a ticket by an unknown id", "POST", ticketsPath, "", `{"email":"bob@example.com","connection_id":"con_0000000000000000"}`, 400, "invalid_body", "Connection does not exist"},
	})
}

// TestAPIEmailProvider: the SMTP relay without its password; no relay is
// Auth0's 404.
func TestAPIEmailProvider(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{EmailProvider: &EmailProvider{Host: "smtp.example.com", Port: 587, User: "mailer"}})
	var p struct {
		Name               string
		Enabled            bool
		DefaultFromAddress string `json:"default_from_address"`
		Credentials        map[string]any
	}
	got := a.api(t, "GET", "/api/v2/emails/provider", "")
	decodeOK(t, "emails/provider", got, 200, &p)
	if p.Name != "smtp" || !p.Enabled || p.DefaultFromAddress != "Example <no-reply@example.com>" || len(p.Credentials) != 3 ||
		p.Credentials["smtp_host"] != "smtp.example.com" || p.Credentials["smtp_port"] != float64(587) || p.Credentials["smtp_user"] != "mailer" {
		t.Errorf("emails/provider: %+v", p)
	}
	if strings.Contains(strings.ToLower(got.body), "pass") {
		t.Errorf("the provider mentions a password: %s", got.body)
	}
	a.wantRefusals(t, []apiRefusal{
		{"fields", "GET", "/api/v2/emails/provider?fields=name", "", "", 400, "invalid_query_string", "not supported here"},
		{"update", "PATCH", "/api/v2/emails/provider", "", `{"enabled":false}`, 405, "method_not_allowed", ""},
	})
	none := newAdminEnv(t, AdminConfig{})
	wantMgmtError(t, "no provider", none.api(t, "GET", "/api/v2/emails/provider", ""), 404, "inexistent_email_provider", "not been configured")

	if p, err := EmailProviderOf("[::1]:2525", ""); err != nil || p.Host != "::1" || p.Port != 2525 || p.User != "" {
		t.Errorf("EmailProviderOf: %+v %v", p, err)
	}
}

// TestAPICreateTemplate: POST /api/v2/email-templates stores a template still
// at its built-in default, and answers Auth0's 409 for one someone wrote.
func TestAPICreateTemplate(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	const path = "/api/v2/email-templates"
	body := `{"template":"password_changed","body":"<p>Changed, {{ user.email }}.</p>","subject":"Changed","syntax":"liquid","enabled":true}`
	var created templateJSON
	decodeOK(t, "create", a.api(t, "POST", path, body), 200, &created)
	if created.Template != "password_changed" || created.Subject != "Changed" || !created.Enabled {
		t.Errorf("create: %+v", created)
	}
	a.wantRefusals(t, []apiRefusal{
		{"create again", "POST", path, "", body, 409, "template_exists", "Template password_changed already exists."},
		{"no template", "POST", path, "", `{"body":"x"}`, 400, "invalid_body", "Missing required property: template"},
		{"unknown template", "POST", path, "", `{"template":"welcome_email","body":"x"}`, 400, "invalid_body", "not one of the supported templates (reset_email, password_changed)"},
		{"no body", "POST", path, "", `{"template":"reset_email"}`, 400, "invalid_body", "Missing required property: body"},
		{"a bad body", "POST", path, "", `{"template":"reset_email","body":"{{ user.nmae }}"}`, 400, "invalid_template", ""},
		{"unknown field", "POST", path, "", `{"template":"reset_email","body":"x","colour":"blue"}`, 400, "invalid_body", "colour"},
		{"not JSON", "POST", path, "", `{"template":`, 400, "invalid_body", "not valid JSON"},
		{"GET the collection", "GET", path, "", "", 405, "method_not_allowed", ""},
	})
	var current templateJSON
	decodeOK(t, "reset_email untouched", a.api(t, "GET", path+"/reset_email", ""), 200, &current)
	if strings.Contains(current.Body, "nmae") {
		t.Errorf("a refused create changed reset_email: %+v", current)
	}
	decodeOK(t, "password_changed as created", a.api(t, "GET", path+"/password_changed", ""), 200, &current)
	if current.Subject != "Changed" {
		t.Errorf("the 409 changed password_changed: %+v", current)
	}
}

// TestAPILogSearch: q (and its older name search) filter the log; every write
// leaves an sapi or fapi entry, no read does; from / take read after an entry.
func TestAPILogSearch(t *testing.T) {
	a := newAdminEnv(t, AdminConfig{})
	a.api(t, "POST", ticketsPath, `{"user_id":"user-alice"}`)
	a.api(t, "POST", ticketsPath, `{"user_id":"user-nobody"}`)
	a.api(t, "GET", "/api/v2/users/user-alice", "")
	a.apiAs(t, "Bearer wrong-token-0123456789abcdef0123", "POST", ticketsPath, `{"user_id":"user-alice"}`)
	search := func(q url.Values) []admin.AuditEntry {
		t.Helper()
		var out []admin.AuditEntry
		decodeOK(t, q.Encode(), a.api(t, "GET", "/api/v2/logs?"+q.Encode(), ""), 200, &out)
		return out
	}
	ok := search(url.Values{"q": {"type:sapi"}})
	if len(ok) != 1 || ok[0].Actor != adminTokenName || ok[0].Target != ticketsPath || !strings.Contains(ok[0].Description, "POST "+ticketsPath+": 201") {
		t.Errorf("sapi: %+v", ok)
	}
	failed := search(url.Values{"search": {`type:fapi`}})
	if len(failed) != 1 || !strings.Contains(failed[0].Description, "404 inexistent_user") {
		t.Errorf("fapi (an authenticated call only): %+v", failed)
	}
	alice := search(url.Values{"q": {`type:(admin_ticket OR sapi) AND user_id:"user-alice"`}})
	if len(alice) != 1 || alice[0].Type != audit.TicketCreated {
		t.Errorf("alice's ticket: %+v", alice)
	}
	today := a.Clock.Now().UTC().Format("2006-01-02")
	if got := search(url.Values{"q": {"date:[" + today + " TO *]"}, "sort": {"date:1"}}); len(got) != 3 || got[0].Type != audit.TicketCreated {
		t.Errorf("today, oldest first: %+v", got)
	}
	if got := search(url.Values{"q": {"date:[* TO 2000-01-01]"}}); len(got) != 0 {
		t.Errorf("before 2000: %+v", got)
	}
	all := search(url.Values{"sort": {"date:1"}})
	if after := search(url.Values{"from": {all[0].ID}, "take": {"1"}}); len(after) != 1 || after[0].ID != all[1].ID {
		t.Errorf("one after the first: %+v, want %s", after, all[1].ID)
	}
	a.wantRefusals(t, []apiRefusal{
		{"an operator", "GET", "/api/v2/logs?q=" + url.QueryEscape("type:s OR type:f"), "", "", 400, "invalid_query_string", "date:[<from> TO <to>]"},
		{"a field", "GET", "/api/v2/logs?q=description:x", "", "", 400, "invalid_query_string", "Unsupported field description"},
		{"q and search", "GET", "/api/v2/logs?q=type:s&search=type:f", "", "", 400, "invalid_query_string", "send one"},
		{"sort by type", "GET", "/api/v2/logs?sort=type:1", "", "", 400, "invalid_query_string", "sort must be date:-1"},
		{"from and q", "GET", "/api/v2/logs?from=" + all[0].ID + "&q=type:s", "", "", 400, "invalid_query_string", "cannot be combined with q"},
		{"take alone", "GET", "/api/v2/logs?take=5", "", "", 400, "invalid_query_string", "take needs from"},
		{"a bad from", "GET", "/api/v2/logs?from=../x", "", "", 400, "invalid_query_string", "from must be a log_id"},
	})
	if n := len(search(url.Values{"q": {"type:fapi"}})); n != 1 {
		t.Errorf("the refused reads left %d fapi entries, want the one write's", n)
	}
}
