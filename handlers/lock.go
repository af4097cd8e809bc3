package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

// What Auth0's browser libraries load and call beside the request itself: Lock's
// client configuration and the challenge auth0-js asks for when a state is set.

// The routes.
const (
	PathChallenge    = PathChangePassword + "/challenge"
	pathClientPrefix = "/client/"
	clientFileSuffix = ".js"
)

// challengeFields: auth0-js's getPasswordResetChallenge sends the state alone.
var challengeFields = fieldSpec{allowed: []string{"state"}}

// challengeAnswer is Auth0's answer when no captcha is configured: Lock then
// shows no captcha field and sends none.
type challengeAnswer struct {
	Required bool `json:"required"`
}

// challenge is POST /dbconnections/change_password/challenge. The plugin's
// defence against floods is its limits and the per-user merging of requests,
// not a captcha, so there is never one to solve.
func (p *Public) challenge(w http.ResponseWriter, r *http.Request) {
	if !p.originAllowed(w, r, p.anyClientAllows) {
		writeAuthError(w, p.log, errOriginRefused)
		return
	}
	if _, err := readFields(r, maxRequestBody, challengeFields); err != nil {
		p.writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, challengeAnswer{Required: false})
}

// clientFileID returns the client id of a /client/{id}.js file name.
func clientFileID(file string) (string, bool) {
	id, ok := strings.CutSuffix(file, clientFileSuffix)
	return id, ok && id != ""
}

// ownsClientFile reports whether path is the configuration file of a declared
// client: other /client/ paths belong to the app.
func (p *Public) ownsClientFile(path string) bool {
	file, ok := strings.CutPrefix(path, pathClientPrefix)
	if !ok || strings.Contains(file, "/") {
		return false
	}
	id, ok := clientFileID(file)
	return ok && p.svc.Site().Clients[id] != nil
}

// lockClient is what Lock reads from its client configuration (lock
// src/core/client/index.js, formatClient): the client's id, a tenant name and
// the connections by strategy. Nothing in it is secret.
type lockClient struct {
	ID         string         `json:"id"`
	Tenant     string         `json:"tenant"`
	Strategies []lockStrategy `json:"strategies"`
}

type lockStrategy struct {
	Name        string           `json:"name"`
	Connections []lockConnection `json:"connections"`
}

type lockConnection struct {
	Name              string             `json:"name"`
	PasswordPolicy    string             `json:"passwordPolicy"`
	ComplexityOptions lockComplexityOpts `json:"password_complexity_options"`
	ShowSignup        bool               `json:"showSignup"`
	ShowForgot        bool               `json:"showForgot"`
	RequiresUsername  bool               `json:"requires_username"`
	ForgotPasswordURL string             `json:"forgot_password_url"`
}

type lockComplexityOpts struct {
	MinLength int `json:"min_length"`
}

// clientFile is GET /client/{id}.js: the client's configuration as Lock loads
// it, a script calling Auth0.setClient (JSONP through a script element, which
// needs no CORS), or the same object as JSON for a script that fetches it
// (wantsJSON: a fetch or XMLHttpRequest, or Accept: application/json).
func (p *Public) clientFile(w http.ResponseWriter, r *http.Request) {
	id, _ := clientFileID(r.PathValue("file"))
	client := p.svc.Site().Clients[id]
	if client == nil { // ownsClientFile let only declared clients in
		p.notFound(w)
		return
	}
	p.originAllowed(w, r, client.AllowsOrigin) // public data: CORS only decides who may read it by fetch
	body, err := json.Marshal(p.lockClient(client))
	if err != nil {
		p.writeRequestError(w, err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r) {
		h.Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body) //nolint:errcheck // nothing to do for a client gone
		return
	}
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	var js bytes.Buffer
	js.WriteString("Auth0.setClient(")
	js.Write(body)
	js.WriteString(");\n")
	w.Write(js.Bytes()) //nolint:errcheck // nothing to do for a client gone
}

// lockClient describes client's database connections: the plugin has no
// sign-up and no password login, so Lock offers neither but the forgot-password
// screen, whose link it shows.
func (p *Public) lockClient(client *reset.Client) lockClient {
	site := p.svc.Site()
	db := lockStrategy{Name: "auth0", Connections: []lockConnection{}}
	for _, name := range site.DatabaseConnections() {
		conn, _ := site.Connection(name)
		pol := conn.Policy.Effective()
		db.Connections = append(db.Connections, lockConnection{
			Name:              name,
			PasswordPolicy:    lockPolicyLevel(string(pol.Level)),
			ComplexityOptions: lockComplexityOpts{MinLength: pol.MinLength},
			ShowForgot:        true,
			ForgotPasswordURL: site.ForgotURL(client.ID, name),
		})
	}
	return lockClient{ID: client.ID, Tenant: site.PublicURL.Hostname(), Strategies: []lockStrategy{db}}
}

// lockPolicyLevel is the level as Lock knows them (auth0-password-policies:
// none, low, fair, good, excellent). The nist level is the product's own: Lock
// gets "none" for it and the minimum length through the complexity options, so
// it never refuses a password the server would take.
func lockPolicyLevel(level string) string {
	if level == "nist" {
		return "none"
	}
	return level
}
