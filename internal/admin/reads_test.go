package admin_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

func kindOf(err error) fault.Kind {
	if f, ok := fault.As(err); ok {
		return f.Kind
	}
	return 0 // no fault: no kind
}

func connNames(found []admin.FoundUser) []string {
	var out []string
	for _, f := range found {
		out = append(out, f.Connection.Name+"/"+f.User.UserID)
	}
	return out
}

// TestUserReads: the reads ask every database connection's app, list each
// match, and refuse where one user must be named; an app that does not answer
// fails the read rather than reading as "no such user".
func TestUserReads(t *testing.T) {
	h := newStack(t, func(s *testenv.Stack, c *service.Config) { withSecondDatabase(s)(c) })
	ctx := context.Background()
	both := []string{"Other-DB/user-alice", conn + "/user-alice"}

	found, err := h.Admin.UsersByEmail(ctx, "Alice@Example.com")
	if err != nil || !slices.Equal(connNames(found), both) || found[0].User.Name != "Alice Liddell" {
		t.Fatalf("users-by-email: %v %v", connNames(found), err)
	}
	if found, err := h.Admin.UsersByEmail(ctx, "nobody@example.com"); err != nil || len(found) != 0 {
		t.Errorf("users-by-email for nobody: %v %v", found, err)
	}
	found, err = h.Admin.SearchUsers(ctx, admin.UserQuery{Field: "user_id", Value: "user-alice"}, "")
	if err != nil || !slices.Equal(connNames(found), both) {
		t.Errorf("search by id: %v %v", connNames(found), err)
	}
	other, _ := h.Admin.Site().ConnectionByRef("Other-DB")
	found, err = h.Admin.SearchUsers(ctx, admin.UserQuery{Field: "email", Value: "bob@example.com"}, other.ID())
	if err != nil || !slices.Equal(connNames(found), []string{"Other-DB/user-bob"}) {
		t.Errorf("search by email in one connection, named by id: %v %v", connNames(found), err)
	}
	if _, err := h.Admin.GetUser(ctx, "user-alice"); adminCode(t, err) != "ambiguous_user" {
		t.Errorf("an id two connections know: %v, want ambiguous_user", err)
	}
	for name, err := range map[string]error{
		"no email":        second(h.Admin.UsersByEmail(ctx, "")),
		"a bad email":     second(h.Admin.UsersByEmail(ctx, "not-an-address")),
		"no id":           second(h.Admin.GetUser(ctx, "")),
		"a social search": second(h.Admin.SearchUsers(ctx, admin.UserQuery{Field: "email", Value: "a@b.example"}, "google-oauth2")),
	} {
		if kindOf(err) != fault.Invalid {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
	h.App.Stop()
	if _, err := h.Admin.UsersByEmail(ctx, "alice@example.com"); kindOf(err) != fault.Unavailable {
		t.Errorf("with the app down: %v, want Unavailable", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestGetUser: by id in the only database connection; an unknown id is Auth0's
// 404.
func TestGetUser(t *testing.T) {
	h := newStack(t)
	got, err := h.Admin.GetUser(context.Background(), "user-carol")
	if err != nil || got.User.Email != "carol@example.com" || !got.User.Blocked || got.Connection.Name != conn {
		t.Fatalf("GetUser: %+v %v", got, err)
	}
	if _, err := h.Admin.GetUser(context.Background(), "user-nobody"); adminCode(t, err) != "inexistent_user" || kindOf(err) != fault.NotFound {
		t.Errorf("unknown id: %v", err)
	}
}

func TestParseUserQuery(t *testing.T) {
	for q, want := range map[string]admin.UserQuery{
		`email:"alice@example.com"`:      {Field: "email", Value: "alice@example.com"},
		`email:alice@example.com`:        {Field: "email", Value: "alice@example.com"},
		`  user_id:"auth0|abc"  `:        {Field: "user_id", Value: "auth0|abc"},
		`user_id:user-bob`:               {Field: "user_id", Value: "user-bob"},
		`user_id:"say \"hi\" \\ ok"`:     {Field: "user_id", Value: `say "hi" \ ok`},
		`user_id:auth0\|abc`:             {Field: "user_id", Value: "auth0|abc"},
		`email:"with space@example.com"`: {Field: "email", Value: "with space@example.com"},
	} {
		got, err := admin.ParseUserQuery(q)
		if err != nil || got != want {
			t.Errorf("ParseUserQuery(%q) = %+v, %v; want %+v", q, got, err, want)
		}
	}
	for q, mention := range map[string]string{
		``:                                      "q is required",
		`name:"Alice"`:                          "Unsupported query",
		`email:*@example.com`:                   "Wildcards",
		`email:"a@example.com" OR email:"b@x"`:  "Only one clause",
		`email:"a@example.com" AND user_id:"x"`: "Only one clause",
		`email:"a@example.com`:                  "no closing quote",
		`email:""`:                              "empty",
		`user_id:[a TO b]`:                      "Unsupported character",
		`alice@example.com`:                     "Unsupported query",
		`Email:"a@example.com"`:                 "Unsupported query",
	} {
		_, err := admin.ParseUserQuery(q)
		f, ok := fault.As(err)
		if !ok || f.Code != "invalid_query_string" || !strings.Contains(f.Message, mention) || !strings.Contains(f.Message, `email:"<address>"`) {
			t.Errorf("ParseUserQuery(%q): %v; want a refusal mentioning %q and the supported forms", q, err, mention)
		}
	}
}

// withPolicies gives the test connection Auth0's options and adds a second
// database connection at the nist level.
func withPolicies(s *testenv.Stack) func(*service.Config) {
	return func(c *service.Config) {
		c.Site.Connections[testenv.Conn].Policy = policy.Policy{Level: policy.LevelFair, MinLength: 9, History: 5,
			Dictionary: true, CustomWords: []string{"acme"}, NoPersonalInfo: true}
		other := &connection.Upstream{Connection: "Nist-DB", Secret: s.Upstream.Secret,
			GetUserURL: s.Upstream.GetUserURL, ChangePasswordURL: s.Upstream.ChangePasswordURL}
		c.Site.Connections["Nist-DB"] = &reset.Connection{Name: "Nist-DB", Kind: users.Database,
			Policy: policy.Policy{Level: policy.LevelNIST}, Users: connection.NewDirectory("Nist-DB", other)}
	}
}

// TestConnections: each configured connection in Auth0's shape, with its
// policy in Auth0's option names; filters by name and strategy; by id or name.
func TestConnections(t *testing.T) {
	h := newStack(t, func(s *testenv.Stack, c *service.Config) { withPolicies(s)(c) })
	all := h.Admin.Connections(admin.ConnectionFilter{})
	if len(all) != 3 || !slices.IsSortedFunc(all, func(a, b admin.ConnectionInfo) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatalf("Connections: %+v, want 3 by id", all)
	}
	byName := map[string]admin.ConnectionInfo{}
	for _, c := range all {
		byName[c.Name] = c
		if !strings.HasPrefix(c.ID, "con_") || len(c.ID) != 20 || !slices.Equal(c.Realms, []string{c.Name}) ||
			!slices.Equal(c.EnabledClients, []string{"demo-app"}) {
			t.Errorf("%s: %+v", c.Name, c)
		}
	}
	db := byName[conn]
	o := db.Options
	if db.Strategy != "auth0" || o == nil || o.PasswordPolicy != "fair" || o.PasswordComplexityOptions.MinLength != 9 ||
		!o.PasswordHistory.Enable || o.PasswordHistory.Size != 5 || !o.PasswordDictionary.Enable ||
		!slices.Equal(o.PasswordDictionary.Dictionary, []string{"acme"}) || !o.PasswordNoPersonalInfo.Enable {
		t.Errorf("the test connection: %+v %+v", db, o)
	}
	nist := byName["Nist-DB"].Options
	if nist == nil || nist.PasswordPolicy != "low" || nist.PasswordComplexityOptions.MinLength != 15 || !nist.PasswordDictionary.Enable ||
		nist.PasswordDictionary.Dictionary == nil || nist.PasswordHistory.Enable {
		t.Errorf("nist, in Auth0's terms: %+v", nist)
	}
	if social := byName["google-oauth2"]; social.Strategy != "social" || social.Options != nil {
		t.Errorf("a social connection: %+v", social)
	}
	if got := h.Admin.Connections(admin.ConnectionFilter{Strategies: []string{"auth0"}}); len(got) != 2 {
		t.Errorf("strategy auth0: %+v", got)
	}
	if got := h.Admin.Connections(admin.ConnectionFilter{Name: "Nist-DB", Strategies: []string{"auth0", "ad"}}); len(got) != 1 || got[0].Name != "Nist-DB" {
		t.Errorf("name Nist-DB: %+v", got)
	}
	for _, ref := range []string{db.ID, conn} {
		if got, err := h.Admin.Connection(ref); err != nil || got.ID != db.ID {
			t.Errorf("Connection(%s): %+v %v", ref, got, err)
		}
	}
	if _, err := h.Admin.Connection("con_0000000000000000"); adminCode(t, err) != "inexistent_connection" || kindOf(err) != fault.NotFound {
		t.Errorf("unknown id: %v", err)
	}
	// connection_id in a ticket takes the id.
	issued, err := h.Admin.CreateTicket(context.Background(), ops, admin.TicketRequest{Email: "bob@example.com", ConnectionID: db.ID})
	if err != nil || issued.UserID != "user-bob" {
		t.Fatalf("a ticket with connection_id %s: %+v %v", db.ID, issued, err)
	}
	info, err := h.Flow.OpenTicket(context.Background(), testenv.Ticket(t, issued.URL))
	if err != nil || info.Connection != conn {
		t.Errorf("the ticket opens as %+v %v", info, err)
	}
}

// TestCreateTemplate: create stores a template still at its built-in default
// and refuses, with Auth0's 409, one someone wrote; a refusal stores nothing.
func TestCreateTemplate(t *testing.T) {
	h := newStack(t)
	ctx := context.Background()
	str := func(s string) *string { return &s }
	body := `<p>Your password changed, {{ user.email }}.</p>`
	p := admin.TemplatePatch{Template: str("password_changed"), Body: str(body), Subject: str("Changed"), From: str("ops@example.com")}
	tv, err := h.Admin.CreateTemplate(ctx, ops, p, "api")
	if err != nil || tv.Template.Body != body || tv.Template.Subject != "Changed" || !tv.Template.Enabled {
		t.Fatalf("create: %+v %v", tv, err)
	}
	before, _ := h.Admin.TemplateVersions(ctx, "password_changed")
	if _, err := h.Admin.CreateTemplate(ctx, ops, p, "api"); kindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "Template password_changed already exists.") {
		t.Errorf("create again: %v, want the 409", err)
	}
	subject := "Edited"
	if _, err := h.Admin.SaveTemplate(ctx, ops, "reset_email", admin.TemplatePatch{Subject: &subject}, false, "api"); err != nil {
		t.Fatal(err)
	}
	legacy := admin.TemplatePatch{Template: str("change_password"), Body: str(`<a href="{{ url }}">reset</a>`)}
	if _, err := h.Admin.CreateTemplate(ctx, ops, legacy, "api"); kindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "Template change_password already exists.") {
		t.Errorf("create reset_email by its legacy name once edited: %v", err)
	}
	for name, p := range map[string]admin.TemplatePatch{
		"no template":   {Body: str(body)},
		"unknown name":  {Template: str("welcome_email"), Body: str(body)},
		"no body":       {Template: str("password_changed")},
		"a bad body":    {Template: str("password_changed"), Body: str("{{ user.nmae }}")},
		"a bad address": {Template: str("password_changed"), Body: str(body), From: str("not an address")},
	} {
		if _, err := h.Admin.CreateTemplate(ctx, ops, p, "api"); kindOf(err) != fault.Invalid {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
	after, _ := h.Admin.TemplateVersions(ctx, "password_changed")
	if len(after) != len(before) {
		t.Errorf("the refusals stored versions: %d, then %d", len(before), len(after))
	}
}

// TestRequestAuditCodes: a reset request's outcome is in the audit log, scpr
// or fcpr (with the address asked for), and a password the app refuses is an
// fcp; none of it changes what the requester was answered.
func TestRequestAuditCodes(t *testing.T) {
	h := newStack(t)
	ctx := context.Background()
	for _, email := range []string{"alice@example.com", "nobody@example.com", "carol@example.com"} {
		if _, err := h.Flow.RequestReset(ctx, reset.Request{Email: email, Connection: conn, IP: "192.0.2.7"}); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
	}
	h.Drained(t)
	search := func(types ...string) []admin.AuditEntry {
		t.Helper()
		entries, _, err := h.Admin.SearchAuditLog(ctx, admin.LogFilter{Types: types}, 0, 100, true)
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	ok := search(audit.ResetRequestHandled)
	if len(ok) != 1 || ok[0].UserID != "user-alice" || ok[0].UserName != "alice@example.com" || ok[0].IP != "192.0.2.7" || ok[0].Actor != "user" {
		t.Errorf("scpr: %+v", ok)
	}
	// The jobs run concurrently: their entries come in either order.
	failed := search(audit.ResetRequestFailed)
	byName := map[string]admin.AuditEntry{}
	for _, e := range failed {
		byName[e.UserName] = e
	}
	nobody, carol := byName["nobody@example.com"], byName["carol@example.com"]
	if len(failed) != 2 || nobody.UserID != "" || !strings.Contains(nobody.Description, "no user has this address") ||
		carol.UserID != "user-carol" || !strings.Contains(carol.Description, "blocked") {
		t.Errorf("fcpr: %+v", failed)
	}

	issued, err := h.Admin.CreateTicket(ctx, ops, admin.TicketRequest{UserID: "user-alice"})
	if err != nil {
		t.Fatal(err)
	}
	same := "alice-old-password-1" // the app refuses her current password
	_, err = h.Flow.CompleteReset(ctx, reset.ResetForm{Ticket: testenv.Ticket(t, issued.URL), Password: same, Confirm: same, IP: "192.0.2.8"})
	if kindOf(err) != fault.Refused {
		t.Fatalf("the app's refusal: %v", err)
	}
	fcp := search(audit.PasswordResetFailed)
	if len(fcp) != 1 || fcp[0].UserID != "user-alice" || fcp[0].IP != "192.0.2.8" || !strings.Contains(fcp[0].Description, "refused") {
		t.Errorf("fcp: %+v", fcp)
	}
	if _, err := h.Flow.OpenTicket(ctx, testenv.Ticket(t, issued.URL)); err != nil {
		t.Errorf("after the refusal the ticket: %v, want it usable", err)
	}
}
