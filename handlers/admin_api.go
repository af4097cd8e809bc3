package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// Body limits of the Management API: a template carries an HTML body.
const (
	maxAdminBody    = 8 << 10
	maxTemplateBody = 128 << 10
)

// writeAdminError answers err in the Management API's shape.
func (a *Admin) writeAdminError(w http.ResponseWriter, err error) { writeMgmtFault(w, a.log, err) }

// jsonKindOf is the type a field of an admin body must have.
type jsonKindOf int

const (
	jString jsonKindOf = iota
	jBool
	jInt
)

func (k jsonKindOf) String() string {
	return [...]string{"a string", "a boolean", "an integer"}[k]
}

// adminBody is a strictly parsed JSON object.
type adminBody map[string]any

func (b adminBody) str(name string) (string, bool) {
	v, ok := b[name].(string)
	return v, ok
}

func (b adminBody) strPtr(name string) *string {
	if v, ok := b[name].(string); ok {
		return &v
	}
	return nil
}

func (b adminBody) boolPtr(name string) *bool {
	if v, ok := b[name].(bool); ok {
		return &v
	}
	return nil
}

func (b adminBody) intPtr(name string) *int {
	if v, ok := b[name].(int); ok {
		return &v
	}
	return nil
}

// readAdminJSON reads one JSON object of at most maxBytes whose fields are those
// of spec, each of its type: as strict as readFields (no repeated or case-variant
// keys, no unknown fields, valid UTF-8), with booleans and integers where Auth0's
// API has them. refused names fields that get their own message. JSON null is an
// absent field.
func readAdminJSON(r *http.Request, maxBytes int64, spec map[string]jsonKindOf, refused map[string]string) (adminBody, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/json" {
		return nil, adminBad("Content-Type must be application/json")
	}
	body, err := readBody(r, maxBytes)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, fault.New(fault.TooLarge, "payload_too_large", "Request body is larger than %d bytes", maxBytes)
		}
		return nil, adminBad("could not read the request body")
	}
	if !utf8.Valid(body) {
		return nil, adminBad("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, adminBad("request body must be a JSON object")
	}
	out := adminBody{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, adminBad("request body is not valid JSON")
		}
		key := tok.(string)
		if seen[strings.ToLower(key)] {
			return nil, adminBad("field %q appears more than once", key)
		}
		seen[strings.ToLower(key)] = true
		if msg, ok := refused[key]; ok {
			return nil, adminBad("%s", msg)
		}
		kind, ok := spec[key]
		if !ok {
			return nil, adminBad("Payload validation error: Additional properties not allowed: %s (allowed: %s)", key, specNames(spec))
		}
		val, err := dec.Token()
		if err != nil {
			return nil, adminBad("request body is not valid JSON")
		}
		if val == nil {
			continue
		}
		switch v := val.(type) {
		case string:
			if kind == jString {
				out[key] = v
				continue
			}
		case bool:
			if kind == jBool {
				out[key] = v
				continue
			}
		case json.Number:
			if kind == jInt {
				n, err := strconv.Atoi(v.String())
				if err != nil {
					return nil, adminBad("field %q must be an integer", key)
				}
				out[key] = n
				continue
			}
		}
		return nil, adminBad("Payload validation error: field %q must be %s, not %s", key, kind, jsonKind(val))
	}
	if _, err := dec.Token(); err != nil {
		return nil, adminBad("request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, adminBad("request body must hold exactly one JSON object")
	}
	return out, nil
}

func specNames(spec map[string]jsonKindOf) string {
	var names []string
	for n := range spec {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func adminBad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "invalid_body", format, args...)
}

func (a *Admin) apiRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/tickets/password-change", a.apiCreateTicket)
	mux.HandleFunc("PATCH /api/v2/users/{id}", a.apiUpdateUser)
	mux.HandleFunc("GET /api/v2/users/{id}", a.apiGetUser)
	mux.HandleFunc("GET /api/v2/users", a.apiSearchUsers)
	mux.HandleFunc("GET /api/v2/users-by-email", a.apiUsersByEmail)
	mux.HandleFunc("GET /api/v2/connections", a.apiConnections)
	mux.HandleFunc("GET /api/v2/connections/{id}", a.apiConnection)
	mux.HandleFunc("GET /api/v2/emails/provider", a.apiEmailProvider)
	mux.HandleFunc("POST /api/v2/email-templates", a.apiCreateTemplate)
	mux.HandleFunc("GET /api/v2/email-templates/{name}", a.apiGetTemplate)
	mux.HandleFunc("PUT /api/v2/email-templates/{name}", a.apiPutTemplate)
	mux.HandleFunc("PATCH /api/v2/email-templates/{name}", a.apiPatchTemplate)
	mux.HandleFunc("POST /api/v2/email-templates/{name}/preview", a.apiPreviewTemplate)
	mux.HandleFunc("GET /api/v2/email-templates/{name}/versions", a.apiTemplateVersions)
	mux.HandleFunc("POST /api/v2/email-templates/{name}/versions/{version}/restore", a.apiRestoreTemplate)
	mux.HandleFunc("GET /api/v2/logs", a.apiLogs)
	mux.HandleFunc("GET /api/v2/outbox", a.apiOutbox)
	mux.HandleFunc("POST /api/v2/outbox/{id}/retry", a.apiRetryMail)
	return mux
}

// serveAPI authenticates first, so that without a valid token nothing is revealed,
// not even which paths exist; then routes, answering unknown paths and methods in
// the Management API's error shape.
func (a *Admin) serveAPI(w http.ResponseWriter, r *http.Request) {
	actor, ok := a.apiActor(w, r)
	if !ok {
		return
	}
	if _, pattern := a.api.Handler(r); pattern == "" {
		var allowed []string
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, p := a.api.Handler(r2); p != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeMgmtError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
			return
		}
		writeMgmtError(w, http.StatusNotFound, "not_found", "Not Found")
		return
	}
	a.serveRecorded(w, r.WithContext(withActor(r.Context(), actor)), actor)
}

var ticketSpec = map[string]jsonKindOf{
	"user_id": jString, "email": jString, "connection_id": jString, "client_id": jString,
	"result_url": jString, "ttl_sec": jInt, "mark_email_as_verified": jBool,
	"includeEmailInRedirect": jBool, "organization_id": jString,
}

var ticketRefused = map[string]string{
	"identity":     "identity (a secondary identity) is not supported: name the user with user_id, or email and connection_id",
	"new_password": "new_password is not supported (Auth0's removed legacy field): the user chooses the password through the ticket",
}

// apiCreateTicket is POST /api/v2/tickets/password-change.
func (a *Admin) apiCreateTicket(w http.ResponseWriter, r *http.Request) {
	body, err := readAdminJSON(r, maxAdminBody, ticketSpec, ticketRefused)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	req := admin.TicketRequest{IncludeEmailInRedirect: body.boolPtr("includeEmailInRedirect")}
	req.UserID, _ = body.str("user_id")
	req.Email, _ = body.str("email")
	req.ConnectionID, _ = body.str("connection_id")
	req.ClientID, _ = body.str("client_id")
	req.ResultURL, _ = body.str("result_url")
	req.OrganizationID, _ = body.str("organization_id")
	if v := body.boolPtr("mark_email_as_verified"); v != nil {
		req.MarkEmailAsVerified = *v
	}
	if v := body.intPtr("ttl_sec"); v != nil {
		req.TTL = time.Duration(*v) * time.Second
		if *v < 0 || req.TTL > admin.MaxTicketTTL {
			a.writeAdminError(w, adminBad("ttl_sec must be between 0 (the template's URL lifetime) and %d", int(admin.MaxTicketTTL/time.Second)))
			return
		}
	}
	t, err := a.svc.CreateTicket(r.Context(), actorFrom(r.Context()), req)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"ticket": t.URL})
}

var userSpec = map[string]jsonKindOf{"password": jString, "connection": jString}

// The other fields of Auth0's PATCH /api/v2/users/{id}: refused by name rather
// than ignored, since the app, not the plugin, keeps the user's profile.
var userRefused = func() map[string]string {
	m := map[string]string{}
	for _, f := range []string{"email", "email_verified", "verify_email", "verify_password", "phone_number", "phone_verified",
		"user_metadata", "app_metadata", "blocked", "given_name", "family_name", "name", "nickname", "picture",
		"username", "client_id"} {
		m[f] = "Only password and connection can be changed here: " + f + " lives in your app, which keeps the user's profile"
	}
	return m
}()

// userJSON is the user as Auth0's Management API returns it.
type userJSON struct {
	UserID        string         `json:"user_id"`
	Email         string         `json:"email"`
	EmailVerified bool           `json:"email_verified"`
	Name          string         `json:"name,omitempty"`
	Nickname      string         `json:"nickname,omitempty"`
	GivenName     string         `json:"given_name,omitempty"`
	FamilyName    string         `json:"family_name,omitempty"`
	Blocked       bool           `json:"blocked"`
	Identities    []identityJSON `json:"identities"`
}

type identityJSON struct {
	Connection string `json:"connection"`
	Provider   string `json:"provider"`
	UserID     string `json:"user_id"`
	IsSocial   bool   `json:"isSocial"`
}

// apiUpdateUser is PATCH /api/v2/users/{id} with a password.
func (a *Admin) apiUpdateUser(w http.ResponseWriter, r *http.Request) {
	body, err := readAdminJSON(r, maxAdminBody, userSpec, userRefused)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	password, ok := body.str("password")
	if !ok {
		a.writeAdminError(w, adminBad("Payload validation error: password is required (it is the only change this API makes)"))
		return
	}
	connName, _ := body.str("connection")
	user, connName, err := a.svc.SetPassword(r.Context(), actorFrom(r.Context()), r.PathValue("id"), connName, password)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, userOf(user, connName))
}

var templateSpec = map[string]jsonKindOf{
	"template": jString, "body": jString, "text": jString, "from": jString, "subject": jString, "syntax": jString,
	"resultUrl": jString, "urlLifetimeInSeconds": jInt, "includeEmailInRedirect": jBool, "enabled": jBool,
}

func templatePatch(b adminBody) admin.TemplatePatch {
	return admin.TemplatePatch{
		Template: b.strPtr("template"), Body: b.strPtr("body"), Text: b.strPtr("text"), From: b.strPtr("from"),
		Subject: b.strPtr("subject"), Syntax: b.strPtr("syntax"), ResultURL: b.strPtr("resultUrl"),
		URLLifetimeInSeconds: b.intPtr("urlLifetimeInSeconds"), IncludeEmailInRedirect: b.boolPtr("includeEmailInRedirect"),
		Enabled: b.boolPtr("enabled"),
	}
}

// templateLangSpec is templateSpec with the language whose text a call reads
// or changes (absent: the template itself, as before languages).
var templateLangSpec = func() map[string]jsonKindOf {
	m := maps.Clone(templateSpec)
	m["language"] = jString
	return m
}()

// queryLanguage returns the ?language= of r, and whether it was given; it
// may be given once, and any value is the language's tag.
func queryLanguage(r *http.Request) (string, bool, error) {
	vals, ok := r.URL.Query()["language"]
	if !ok {
		return "", false, nil
	}
	if len(vals) != 1 {
		return "", false, fault.New(fault.Invalid, "invalid_query_string", "parameter language appears more than once")
	}
	if vals[0] == "" {
		return "", false, fault.New(fault.Invalid, "invalid_query_string", "language must be a language tag, e.g. fr")
	}
	return vals[0], true, nil
}

// asQueryError gives a refusal of the language the query string's code.
func asQueryError(err error) error {
	if f, ok := fault.As(err); ok && f.Kind == fault.Invalid && f.Code == "invalid_body" {
		return fault.New(fault.Invalid, "invalid_query_string", "%s", f.Message)
	}
	return err
}

// apiGetTemplate is GET /api/v2/email-templates/{name}: the template, or with
// ?language= the template as that language's users get it, with "language"
// and "languageSource" ("own", "built-in" or "default-language").
func (a *Admin) apiGetTemplate(w http.ResponseWriter, r *http.Request) {
	tag, ok, err := queryLanguage(r)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if ok {
		in, err := a.svc.GetTemplateIn(r.Context(), r.PathValue("name"), tag)
		if err != nil {
			a.writeAdminError(w, asQueryError(err))
			return
		}
		writeJSON(w, http.StatusOK, in)
		return
	}
	tv, err := a.svc.GetTemplate(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tv.Template)
}

func (a *Admin) apiPutTemplate(w http.ResponseWriter, r *http.Request)   { a.saveTemplate(w, r, true) }
func (a *Admin) apiPatchTemplate(w http.ResponseWriter, r *http.Request) { a.saveTemplate(w, r, false) }

// saveTemplate is PUT and PATCH: with "language" in the body, they change
// that language's text (for a language other than the default, only body,
// subject and text) and answer as GET with ?language= does.
func (a *Admin) saveTemplate(w http.ResponseWriter, r *http.Request, replace bool) {
	body, err := readAdminJSON(r, maxTemplateBody, templateLangSpec, nil)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if tag, ok := body.str("language"); ok {
		in, err := a.svc.SaveTemplateIn(r.Context(), actorFrom(r.Context()), r.PathValue("name"), tag, templatePatch(body), replace, "api")
		if err != nil {
			a.writeAdminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, in)
		return
	}
	tv, err := a.svc.SaveTemplate(r.Context(), actorFrom(r.Context()), r.PathValue("name"), templatePatch(body), replace, "api")
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tv.Template)
}

// apiPreviewTemplate renders the template changed by the body, in the body's
// language (absent: the default), for a sample user of that language.
func (a *Admin) apiPreviewTemplate(w http.ResponseWriter, r *http.Request) {
	body, err := readAdminJSON(r, maxTemplateBody, templateLangSpec, nil)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	tag, _ := body.str("language")
	p, err := a.svc.PreviewTemplateIn(r.Context(), r.PathValue("name"), tag, templatePatch(body))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// variantQuery returns ?language= when it names a language other than the
// default (whose versions are the template's own), else "".
func (a *Admin) variantQuery(r *http.Request) (string, error) {
	tag, ok, err := queryLanguage(r)
	if err != nil || !ok {
		return "", err
	}
	lang, err := a.svc.TemplateLanguage(tag)
	if err != nil {
		return "", asQueryError(err)
	}
	if lang.Tag() == a.svc.Languages().Default().Tag() {
		return "", nil
	}
	return lang.Tag(), nil
}

func (a *Admin) apiTemplateVersions(w http.ResponseWriter, r *http.Request) {
	tag, err := a.variantQuery(r)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if tag != "" {
		versions, err := a.svc.TemplateVersionsIn(r.Context(), r.PathValue("name"), tag)
		if err != nil {
			a.writeAdminError(w, err)
			return
		}
		if versions == nil {
			versions = []admin.VariantVersion{}
		}
		writeJSON(w, http.StatusOK, versions)
		return
	}
	versions, err := a.svc.TemplateVersions(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if versions == nil {
		versions = []admin.TemplateVersion{}
	}
	writeJSON(w, http.StatusOK, versions)
}

func (a *Admin) apiRestoreTemplate(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v <= 0 {
		writeMgmtError(w, http.StatusBadRequest, "invalid_uri", "version must be a positive integer")
		return
	}
	tag, err := a.variantQuery(r)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if tag != "" {
		vv, err := a.svc.RestoreTemplateIn(r.Context(), actorFrom(r.Context()), r.PathValue("name"), tag, v)
		if err != nil {
			a.writeAdminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, vv)
		return
	}
	tv, err := a.svc.RestoreTemplate(r.Context(), actorFrom(r.Context()), r.PathValue("name"), v)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tv)
}

// queryInts reads the named non-negative integer query parameters and refuses any
// other parameter.
func queryInts(r *http.Request, ints []string, others ...string) (map[string]int, error) {
	out := map[string]int{}
	for name, vals := range r.URL.Query() {
		if len(vals) != 1 {
			return nil, fault.New(fault.Invalid, "invalid_query_string", "%s", "parameter "+name+" appears more than once")
		}
		switch {
		case slices.Contains(ints, name):
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 0 {
				return nil, fault.New(fault.Invalid, "invalid_query_string", "%s", name+" must be a non-negative integer")
			}
			out[name] = n
		case slices.Contains(others, name):
		default:
			return nil, fault.New(fault.Invalid, "invalid_query_string", "%s", "unknown query parameter "+name)
		}
	}
	return out, nil
}

// apiOutbox is GET /api/v2/outbox?state=queued|retrying|failed|sent.
func (a *Admin) apiOutbox(w http.ResponseWriter, r *http.Request) {
	if _, err := queryInts(r, nil, "state"); err != nil {
		a.writeAdminError(w, err)
		return
	}
	msgs, err := a.svc.ListOutbox(r.Context(), r.URL.Query().Get("state"), 0)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if msgs == nil {
		msgs = []admin.OutboxMessage{}
	}
	writeJSON(w, http.StatusOK, msgs)
}

// apiRetryMail is POST /api/v2/outbox/{id}/retry: a failed email is queued again.
func (a *Admin) apiRetryMail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.svc.RetryMail(r.Context(), actorFrom(r.Context()), id); err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "state": admin.MailQueued})
}
