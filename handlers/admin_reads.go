package handlers

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// The Management API's reads an SDK or a script relies on (users, connections,
// the email provider) and the creation of an email template. Each refuses a
// query parameter it does not understand, naming the ones it does, rather than
// ignoring it: an ignored filter would answer another question.

// EmailProvider is what GET /api/v2/emails/provider shows of the SMTP relay:
// where mail goes and as whom, never the password.
type EmailProvider struct {
	Host string
	Port int
	User string
}

// maxPerPage is Auth0's largest page.
const maxPerPage = 100

// badQuery is a refusal of a query string.
func badQuery(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "invalid_query_string", format, args...)
}

// readQuery returns r's query, refusing a parameter not in allowed and one
// given more than once unless it is repeatable.
func readQuery(r *http.Request, allowed []string, repeatable ...string) (url.Values, error) {
	q := r.URL.Query()
	for name, vals := range q {
		switch {
		case !slices.Contains(allowed, name):
			return nil, badQuery("Query parameter %s is not supported here (supported: %s)",
				strconv.QuoteToASCII(name), strings.Join(allowed, ", "))
		case len(vals) > 1 && !slices.Contains(repeatable, name):
			return nil, badQuery("Query parameter %s appears more than once", name)
		}
	}
	return q, nil
}

// queryBool reads a true/false parameter; absent is false.
func queryBool(q url.Values, name string) (bool, error) {
	switch q.Get(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, badQuery("%s must be true or false", name)
}

// queryInt reads a non-negative integer parameter of at most maxVal; absent is def.
func queryInt(q url.Values, name string, def, maxVal int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(q.Get(name))
	switch {
	case err != nil || n < 0:
		return 0, badQuery("%s must be a non-negative integer", name)
	case n > maxVal:
		return 0, badQuery("%s must be at most %d", name, maxVal)
	}
	return n, nil
}

// pageOf returns Auth0's page and per_page (default 50, at most 100).
func pageOf(q url.Values) (page, perPage int, err error) {
	if page, err = queryInt(q, "page", 0, 1<<20); err != nil {
		return 0, 0, err
	}
	if perPage, err = queryInt(q, "per_page", 50, maxPerPage); err != nil {
		return 0, 0, err
	}
	if perPage == 0 {
		perPage = 50
	}
	return page, perPage, nil
}

// window returns the page'th page of perPage items of list.
func window[T any](list []T, page, perPage int) []T {
	start := min(page*perPage, len(list))
	return list[start:min(start+perPage, len(list))]
}

// userOf is a found user in Auth0's shape.
func userOf(u *admin.User, connection string) userJSON {
	return userJSON{
		UserID: u.UserID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		Nickname: u.Nickname, GivenName: u.GivenName, FamilyName: u.FamilyName, Blocked: u.Blocked,
		Identities: []identityJSON{{Connection: connection, Provider: "auth0", UserID: u.UserID}},
	}
}

func usersOf(found []admin.FoundUser) []userJSON {
	out := make([]userJSON, 0, len(found))
	for _, f := range found {
		out = append(out, userOf(f.User, f.Connection.Name))
	}
	return out
}

// apiGetUser is GET /api/v2/users/{id}.
func (a *Admin) apiGetUser(w http.ResponseWriter, r *http.Request) {
	if _, err := readQuery(r, nil); err != nil {
		a.writeAdminError(w, err)
		return
	}
	found, err := a.svc.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, userOf(found.User, found.Connection.Name))
}

// apiUsersByEmail is GET /api/v2/users-by-email?email=.
func (a *Admin) apiUsersByEmail(w http.ResponseWriter, r *http.Request) {
	q, err := readQuery(r, []string{"email"})
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	found, err := a.svc.UsersByEmail(r.Context(), q.Get("email"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, usersOf(found))
}

var userSearchParams = []string{"q", "search_engine", "connection", "page", "per_page", "include_totals"}

// apiSearchUsers is GET /api/v2/users?q=...&search_engine=v3, for the queries
// the get_user hook answers (admin.ParseUserQuery).
func (a *Admin) apiSearchUsers(w http.ResponseWriter, r *http.Request) {
	q, err := readQuery(r, userSearchParams)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	page, perPage, err := pageOf(q)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	totals, err := queryBool(q, "include_totals")
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if se := q.Get("search_engine"); se != "" && se != "v3" && se != "v2" {
		a.writeAdminError(w, badQuery("search_engine %s is not supported: use v3", strconv.QuoteToASCII(se)))
		return
	}
	uq, err := admin.ParseUserQuery(q.Get("q"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	found, err := a.svc.SearchUsers(r.Context(), uq, q.Get("connection"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	all := usersOf(found)
	users := window(all, page, perPage)
	if !totals {
		writeJSON(w, http.StatusOK, users)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"users": users, "start": page * perPage, "limit": perPage, "length": len(users), "total": len(all),
	})
}

var connectionParams = []string{"strategy", "name", "include_totals", "from", "take", "page", "per_page"}

// apiConnections is GET /api/v2/connections, with Auth0's strategy (repeatable)
// and name filters and either paging: page / per_page (with include_totals)
// or the checkpoint from / take, whose next is the id to continue from.
func (a *Admin) apiConnections(w http.ResponseWriter, r *http.Request) {
	q, err := readQuery(r, connectionParams, "strategy")
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	list := a.svc.Connections(admin.ConnectionFilter{Name: q.Get("name"), Strategies: q["strategy"]})
	if q.Has("from") || q.Has("take") {
		a.connectionsFrom(w, q, list)
		return
	}
	totals, err := queryBool(q, "include_totals")
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	page, perPage, err := pageOf(q)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	conns := window(list, page, perPage)
	if !totals {
		writeJSON(w, http.StatusOK, conns)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"connections": conns, "start": page * perPage, "limit": perPage, "total": len(list)})
}

// connectionsFrom answers checkpoint paging: take connections from the one
// whose id is from (the first without from), and next when more follow.
// include_totals is ignored there, as on Auth0.
func (a *Admin) connectionsFrom(w http.ResponseWriter, q url.Values, list []admin.ConnectionInfo) {
	if q.Has("page") || q.Has("per_page") {
		a.writeAdminError(w, badQuery("from and take cannot be combined with page and per_page"))
		return
	}
	if _, err := queryBool(q, "include_totals"); err != nil {
		a.writeAdminError(w, err)
		return
	}
	take, err := queryInt(q, "take", 50, maxPerPage)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if take == 0 {
		take = 50
	}
	if from := q.Get("from"); from != "" {
		i := slices.IndexFunc(list, func(c admin.ConnectionInfo) bool { return c.ID == from })
		if i < 0 {
			a.writeAdminError(w, badQuery("from must be the id of a connection the query lists (the next of the previous page)"))
			return
		}
		list = list[i:]
	}
	out := map[string]any{"connections": list[:min(take, len(list))]}
	if len(list) > take {
		out["next"] = list[take].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// apiConnection is GET /api/v2/connections/{id}.
func (a *Admin) apiConnection(w http.ResponseWriter, r *http.Request) {
	if _, err := readQuery(r, nil); err != nil {
		a.writeAdminError(w, err)
		return
	}
	conn, err := a.svc.Connection(r.PathValue("id"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, conn)
}

// emailProviderJSON is Auth0's email provider object, for SMTP.
type emailProviderJSON struct {
	Name               string              `json:"name"`
	Enabled            bool                `json:"enabled"`
	DefaultFromAddress string              `json:"default_from_address"`
	Credentials        smtpCredentialsJSON `json:"credentials"`
	Settings           struct{}            `json:"settings"`
}

// smtpCredentialsJSON is the relay without its password: Auth0 never returns
// one either.
type smtpCredentialsJSON struct {
	Host string `json:"smtp_host"`
	Port int    `json:"smtp_port"`
	User string `json:"smtp_user,omitempty"`
}

// apiEmailProvider is GET /api/v2/emails/provider: read-only, the Caddyfile's
// SMTP relay.
func (a *Admin) apiEmailProvider(w http.ResponseWriter, r *http.Request) {
	if _, err := readQuery(r, nil); err != nil {
		a.writeAdminError(w, err)
		return
	}
	p := a.cfg.EmailProvider
	if p == nil {
		writeMgmtError(w, http.StatusNotFound, "inexistent_email_provider", "Email provider has not been configured")
		return
	}
	writeJSON(w, http.StatusOK, emailProviderJSON{
		Name: "smtp", Enabled: true, DefaultFromAddress: a.svc.Site().DefaultFrom,
		Credentials: smtpCredentialsJSON{Host: p.Host, Port: p.Port, User: p.User},
	})
}

// EmailProviderOf returns the provider of an SMTP relay at addr (host:port)
// signing in as user ("" for none).
func EmailProviderOf(addr, user string) (*EmailProvider, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	return &EmailProvider{Host: host, Port: n, User: user}, nil
}

// apiCreateTemplate is POST /api/v2/email-templates: 200 with the template, or
// 409 when the template exists (admin.Service.CreateTemplate says what that
// means here).
func (a *Admin) apiCreateTemplate(w http.ResponseWriter, r *http.Request) {
	body, err := readAdminJSON(r, maxTemplateBody, templateSpec, nil)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	tv, err := a.svc.CreateTemplate(r.Context(), actorFrom(r.Context()), templatePatch(body), "api")
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tv.Template)
}
