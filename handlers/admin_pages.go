package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// adminPage is what the dashboard's pages show; each uses the fields it needs.
type adminPage struct {
	Title  string
	Nav    string // the active section
	Actor  string
	CSRF   string
	Flash  string
	Error  string
	NoForm bool // the login page: no navigation

	// users
	Connections   []string
	Connection    string
	Query         string
	User          *admin.UserInfo
	Rules         []templates.RuleLine
	Clients       []string
	DefaultClient string
	Ticket        *admin.IssuedTicket
	TicketFor     string

	// templates
	Templates   []string
	Name        string
	Tpl         admin.Template
	Version     int
	History     []historyRow
	Preview     *admin.Preview
	PreviewURL  string
	SMTPWarning bool
	// the editor's language: its tag and name, whether it is the default
	// (whose text is the template itself), where its text comes from
	// (admin.LanguageOwn, ...), and the picker's choices
	Language, LanguageName string
	DefaultLanguage        bool
	DefaultLanguageName    string
	LanguageSource         string
	Languages              []languageChoice

	// outbox
	State    string
	States   []string
	Messages []admin.OutboxMessage

	// logs
	Entries            []admin.AuditEntry
	Page, Total        int
	PrevPage, NextPage int
	HasPrev, HasNext   bool
}

func (a *Admin) dashboardRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/{$}", a.dashHome)
	mux.HandleFunc("GET /admin/users", a.dashUsers)
	mux.HandleFunc("POST /admin/users/password", a.dashSetPassword)
	mux.HandleFunc("POST /admin/users/reset-email", a.dashSendReset)
	mux.HandleFunc("POST /admin/users/ticket", a.dashCreateTicket)
	mux.HandleFunc("GET /admin/templates/{$}", a.dashTemplatesHome)
	mux.HandleFunc("GET /admin/templates/{name}", a.dashTemplate)
	mux.HandleFunc("POST /admin/templates/{name}", a.dashTemplateSubmit)
	mux.HandleFunc("POST /admin/templates/{name}/restore", a.dashRestore)
	mux.HandleFunc("GET /admin/templates/{name}/preview/{id}", a.dashPreviewFrame)
	mux.HandleFunc("GET /admin/outbox", a.dashOutbox)
	mux.HandleFunc("POST /admin/outbox/retry", a.dashRetry)
	mux.HandleFunc("GET /admin/logs", a.dashLogs)
	mux.HandleFunc("POST /admin/logout", a.dashLogout)
	return mux
}

func requestStatus(err error) int {
	if f, ok := fault.As(err); ok {
		return statusOf(f.Kind)
	}
	return http.StatusBadRequest
}

// dashForm reads a dashboard form and checks its CSRF token against the session's.
// On failure it has answered.
func (a *Admin) dashForm(w http.ResponseWriter, r *http.Request, spec fieldSpec) (map[string]string, bool) {
	spec.allowed = append(spec.allowed, "_csrf")
	fields, err := readFields(r, maxTemplateBody, spec)
	if err != nil {
		text := "The form could not be read."
		if f, ok := fault.As(err); ok {
			text = "The form could not be read: " + f.Message + "."
		}
		a.renderAdminMessage(w, requestStatus(err), "Please try again", text)
		return nil, false
	}
	sess := sessionFrom(r.Context())
	if subtle.ConstantTimeCompare([]byte(fields["_csrf"]), []byte(sess.CSRF)) != 1 || fields["_csrf"] == "" {
		a.renderAdminMessage(w, http.StatusForbidden, "Please try again",
			"The form's security token is missing or stale (or it was sent from another site). Reload the page and try again.")
		return nil, false
	}
	return fields, true
}

func (a *Admin) page(r *http.Request, title, nav string) adminPage {
	sess := sessionFrom(r.Context())
	return adminPage{Title: title, Nav: nav, Actor: sess.Actor, CSRF: sess.CSRF}
}

// setAdminPageHeaders sends the reset page's headers, with a CSP that also allows
// the dashboard's own script (copy buttons) and its preview frame.
func setAdminPageHeaders(h http.Header) {
	setPageHeaders(h)
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "+
		"frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

func (a *Admin) renderAdmin(w http.ResponseWriter, status int, name string, data adminPage) {
	setAdminPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := a.pages.Render(w, name, data); err != nil {
		a.log.Error("render admin page", slog.String("page", name), slog.Any("error", err))
	}
}

func (a *Admin) renderAdminMessage(w http.ResponseWriter, status int, title, text string) {
	a.renderAdmin(w, status, templates.AdminMessage, adminPage{Title: title, Error: text, NoForm: true})
}

// adminProblem is the status and text of a refusal, for a person.
func (a *Admin) adminProblem(err error) (int, string) {
	f := faultOf(a.log, err)
	if f == errServer {
		return http.StatusInternalServerError, "Something went wrong; nothing was changed."
	}
	if f.Kind == fault.Unavailable && f.Code == "temporarily_unavailable" && f.Err != nil {
		return http.StatusServiceUnavailable, "The store cannot take the request right now; nothing was changed."
	}
	return statusOf(f.Kind), f.Message
}

func (a *Admin) dashHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

func (a *Admin) dashLogout(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.dashForm(w, r, fieldSpec{}); !ok {
		return
	}
	if err := a.svc.EndSession(r.Context(), sessionFrom(r.Context()).id); err != nil {
		a.log.Error("end admin session", slog.Any("error", err))
	}
	http.SetCookie(w, &http.Cookie{Name: a.sessionCookieName(r), Value: "", Path: sessionCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: a.secureCookies(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// usersPage fills the Users page for conn and email, looking the user up when
// email is set.
func (a *Admin) usersPage(r *http.Request, conn, email string) (adminPage, int) {
	p := a.page(r, "Users", "users")
	p.Connections = a.svc.Site().DatabaseConnections()
	p.Clients, p.DefaultClient = a.svc.Site().ClientIDs()
	if conn == "" && len(p.Connections) > 0 {
		conn = p.Connections[0]
	}
	p.Connection, p.Query = conn, email
	if email == "" {
		return p, http.StatusOK
	}
	info, err := a.svc.FindUser(r.Context(), conn, email)
	if err != nil {
		status, text := a.adminProblem(err)
		if status == http.StatusNotFound {
			text = "No user with that email in " + conn + "."
		}
		p.Error = text
		return p, status
	}
	p.User = info
	p.Rules = info.Rules
	return p, http.StatusOK
}

func (a *Admin) dashUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, status := a.usersPage(r, q.Get("connection"), strings.TrimSpace(q.Get("email")))
	a.renderAdmin(w, status, templates.AdminUsers, p)
}

var setPasswordFields = fieldSpec{allowed: []string{"connection", "email", "user_id", "username", "newPassword", "confirmNewPassword"}}

func (a *Admin) dashSetPassword(w http.ResponseWriter, r *http.Request) {
	f, ok := a.dashForm(w, r, setPasswordFields)
	if !ok {
		return
	}
	p, status := a.usersPage(r, f["connection"], f["email"])
	if p.User == nil {
		a.renderAdmin(w, status, templates.AdminUsers, p)
		return
	}
	switch {
	case f["newPassword"] == "":
		p.Error, status = "Enter a new password.", http.StatusBadRequest
	case f["newPassword"] != f["confirmNewPassword"]:
		p.Error, status = "The two passwords are not the same.", http.StatusBadRequest
	case f["user_id"] != p.User.User.UserID:
		p.Error, status = "The user changed since the page was loaded; look them up again.", http.StatusConflict
	}
	if p.Error != "" {
		a.renderAdmin(w, status, templates.AdminUsers, p)
		return
	}
	_, _, err := a.svc.SetPassword(r.Context(), actorFrom(r.Context()), p.User.User.UserID, p.Connection, f["newPassword"])
	if err != nil {
		status, p.Error = a.adminProblem(err)
		a.renderAdmin(w, status, templates.AdminUsers, p)
		return
	}
	p, _ = a.usersPage(r, f["connection"], f["email"])
	p.Flash = "The password of " + p.Query + " was changed. The user was not notified; their open links were cancelled."
	a.renderAdmin(w, http.StatusOK, templates.AdminUsers, p)
}

var userActionFields = fieldSpec{allowed: []string{"connection", "email", "client_id", "ttl"}}

func (a *Admin) dashSendReset(w http.ResponseWriter, r *http.Request) {
	f, ok := a.dashForm(w, r, userActionFields)
	if !ok {
		return
	}
	p, status := a.usersPage(r, f["connection"], f["email"])
	if p.User == nil {
		a.renderAdmin(w, status, templates.AdminUsers, p)
		return
	}
	if err := a.svc.SendResetEmail(r.Context(), actorFrom(r.Context()), p.Connection, p.User.User.Email, f["client_id"]); err != nil {
		status, p.Error = a.adminProblem(err)
		a.renderAdmin(w, status, templates.AdminUsers, p)
		return
	}
	p.Flash = "A reset email to " + p.User.User.Email + " is on its way (see the Outbox). It cancels the user's older links."
	a.renderAdmin(w, http.StatusOK, templates.AdminUsers, p)
}

func (a *Admin) dashCreateTicket(w http.ResponseWriter, r *http.Request) {
	f, ok := a.dashForm(w, r, userActionFields)
	if !ok {
		return
	}
	p, status := a.usersPage(r, f["connection"], f["email"])
	if p.User == nil {
		a.renderAdmin(w, status, templates.AdminUsers, p)
		return
	}
	var ttl time.Duration
	if f["ttl"] != "" {
		secs, err := strconv.Atoi(f["ttl"])
		if err != nil || secs < 0 {
			p.Error = "The lifetime must be a number of seconds."
			a.renderAdmin(w, http.StatusBadRequest, templates.AdminUsers, p)
			return
		}
		ttl = time.Duration(secs) * time.Second
	}
	t, err := a.svc.CreateTicket(r.Context(), actorFrom(r.Context()), admin.TicketRequest{
		Email: p.User.User.Email, ConnectionID: p.Connection, ClientID: f["client_id"], TTL: ttl,
	})
	if err != nil {
		status, p.Error = a.adminProblem(err)
		a.renderAdmin(w, status, templates.AdminUsers, p)
		return
	}
	p, _ = a.usersPage(r, f["connection"], f["email"])
	p.Ticket, p.TicketFor = t, t.Email
	a.renderAdmin(w, http.StatusOK, templates.AdminUsers, p)
}

func (a *Admin) dashTemplatesHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/templates/"+templates.ResetEmail, http.StatusSeeOther)
}

// historyRow is one line of a template's version history: a version of the
// template (the default language's text) or of a language's variant.
type historyRow struct {
	Version      int
	CreatedAt    time.Time
	Author       string
	Source       string
	RestoredFrom int
	Subject      string
}

// languageChoice is one language of the editor's picker.
type languageChoice struct {
	Tag, Name string
	Selected  bool
}

// templatePage fills the template editor for name in the language tag (""
// the default).
func (a *Admin) templatePage(r *http.Request, name, tag string) (adminPage, int) {
	p := a.page(r, "Emails › Templates", "templates")
	p.Templates, p.SMTPWarning = a.svc.TemplateNames(), !a.cfg.SMTPConfigured
	langs := a.svc.Languages()
	def := langs.Default()
	p.Language, p.LanguageName, p.DefaultLanguage, p.DefaultLanguageName = def.Tag(), def.Name(), true, def.Name()
	lang, err := a.svc.TemplateLanguage(tag)
	if err != nil {
		status, text := a.adminProblem(err)
		p.Error = text
		return p, status
	}
	p.Language, p.LanguageName, p.DefaultLanguage = lang.Tag(), lang.Name(), lang.Tag() == def.Tag()
	for _, t := range langs.Enabled() {
		p.Languages = append(p.Languages, languageChoice{Tag: t, Name: langs.Lookup(t).Name(), Selected: t == lang.Tag()})
	}
	in, err := a.svc.GetTemplateIn(r.Context(), name, lang.Tag())
	if err != nil {
		status, text := a.adminProblem(err)
		p.Error = text
		return p, status
	}
	p.Name, p.Tpl, p.Version, p.LanguageSource = in.Template.Template, in.Template, in.Version, in.LanguageSource
	if p.History, err = a.templateHistory(r, name, lang.Tag(), p.DefaultLanguage); err != nil {
		status, text := a.adminProblem(err)
		p.Error = text
		return p, status
	}
	if !p.DefaultLanguage && p.LanguageSource != admin.LanguageOwn {
		p.Version = 0 // no version of its own yet
	}
	return p, http.StatusOK
}

// templateHistory lists the versions of the named template's text in the
// language tag: the template's own versions for the default language.
func (a *Admin) templateHistory(r *http.Request, name, tag string, isDefault bool) ([]historyRow, error) {
	var rows []historyRow
	if isDefault {
		versions, err := a.svc.TemplateVersions(r.Context(), name)
		for _, v := range versions {
			rows = append(rows, historyRow{v.Version, v.CreatedAt, v.Author, v.Source, v.RestoredFrom, v.Template.Subject})
		}
		return rows, err
	}
	versions, err := a.svc.TemplateVersionsIn(r.Context(), name, tag)
	for _, v := range versions {
		rows = append(rows, historyRow{v.Version, v.CreatedAt, v.Author, v.Source, v.RestoredFrom, v.Template.Subject})
	}
	return rows, err
}

func (a *Admin) dashTemplate(w http.ResponseWriter, r *http.Request) {
	p, status := a.templatePage(r, r.PathValue("name"), r.URL.Query().Get("language"))
	a.renderAdmin(w, status, templates.AdminTemplates, p)
}

var templateFields = fieldSpec{allowed: []string{"action", "language", "from", "subject", "body", "text", "url_lifetime",
	"result_url", "include_email", "enabled"}}

// dashTemplateSubmit previews or saves the edited template in the form's
// language. Checkboxes are sent only when ticked, as HTML forms do. In a
// language other than the default the form has only the subject and bodies:
// the settings are the template's in every language.
func (a *Admin) dashTemplateSubmit(w http.ResponseWriter, r *http.Request) {
	f, ok := a.dashForm(w, r, templateFields)
	if !ok {
		return
	}
	name := r.PathValue("name")
	p, status := a.templatePage(r, name, f["language"])
	if status != http.StatusOK {
		a.renderAdmin(w, status, templates.AdminTemplates, p)
		return
	}
	patch := admin.TemplatePatch{}
	texts := map[string]**string{"subject": &patch.Subject, "body": &patch.Body, "text": &patch.Text}
	if p.DefaultLanguage {
		texts["from"], texts["result_url"] = &patch.From, &patch.ResultURL
	}
	for field, dst := range texts {
		v := strings.ReplaceAll(f[field], "\r\n", "\n")
		*dst = &v
	}
	// The form shows the draft, saved or not.
	draft := p.Tpl
	for _, kv := range []struct {
		dst *string
		v   *string
	}{{&draft.From, patch.From}, {&draft.Subject, patch.Subject}, {&draft.Body, patch.Body}, {&draft.Text, patch.Text}, {&draft.ResultURL, patch.ResultURL}} {
		if kv.v != nil {
			*kv.dst = *kv.v
		}
	}
	if p.DefaultLanguage {
		include, enabled := f["include_email"] == "on", f["enabled"] == "on"
		patch.IncludeEmailInRedirect, patch.Enabled = &include, &enabled
		lifetime, err := strconv.Atoi(strings.TrimSpace(f["url_lifetime"]))
		if err != nil {
			p.Error = "The URL lifetime must be a number of seconds."
			a.renderAdmin(w, http.StatusBadRequest, templates.AdminTemplates, p)
			return
		}
		patch.URLLifetimeInSeconds = &lifetime
		draft.URLLifetimeInSeconds, draft.IncludeEmailInRedirect, draft.Enabled = lifetime, include, enabled
	} else {
		for _, field := range []string{"from", "result_url", "url_lifetime", "include_email", "enabled"} {
			if f[field] != "" {
				p.Tpl = draft
				p.Error = "From, URL lifetime, redirect and Enabled are the template's for every language: change them in " +
					p.DefaultLanguageName + "."
				a.renderAdmin(w, http.StatusBadRequest, templates.AdminTemplates, p)
				return
			}
		}
	}
	switch f["action"] {
	case "preview":
		p.Tpl = draft
		prev, err := a.svc.PreviewTemplateIn(r.Context(), name, p.Language, patch)
		if err != nil {
			status, p.Error = a.adminProblem(err)
			a.renderAdmin(w, status, templates.AdminTemplates, p)
			return
		}
		a.showPreview(r, &p, name, prev)
		a.renderAdmin(w, http.StatusOK, templates.AdminTemplates, p)
	case "save":
		saved, err := a.svc.SaveTemplateIn(r.Context(), actorFrom(r.Context()), name, p.Language, patch, false, "dashboard")
		if err != nil {
			p.Tpl = draft
			status, p.Error = a.adminProblem(err)
			a.renderAdmin(w, status, templates.AdminTemplates, p)
			return
		}
		p, _ = a.templatePage(r, name, p.Language)
		p.Flash = "Saved as version " + strconv.Itoa(saved.Version) + "."
		if !p.DefaultLanguage {
			p.Flash = "Saved as version " + strconv.Itoa(saved.Version) + " of the " + p.LanguageName + " text."
		}
		if prev, err := a.svc.PreviewTemplateIn(r.Context(), name, p.Language, admin.TemplatePatch{}); err == nil {
			a.showPreview(r, &p, name, prev)
		}
		a.renderAdmin(w, http.StatusOK, templates.AdminTemplates, p)
	default:
		p.Error = "Choose Preview or Save."
		a.renderAdmin(w, http.StatusBadRequest, templates.AdminTemplates, p)
	}
}

// showPreview keeps the rendered HTML for the preview frame, which loads it from
// its own URL with its own CSP (the email's inline styles, no script, sandboxed).
func (a *Admin) showPreview(r *http.Request, p *adminPage, name string, prev *admin.Preview) {
	id := strings.ToLower(rand.Text())
	a.previews.put(id, sessionFrom(r.Context()).id, prev.HTML)
	p.Preview = prev
	p.PreviewURL = "/admin/templates/" + url.PathEscape(name) + "/preview/" + id
}

// dashPreviewFrame serves a rendered preview to the frame of the page that made it.
func (a *Admin) dashPreviewFrame(w http.ResponseWriter, r *http.Request) {
	html, ok := a.previews.get(r.PathValue("id"), sessionFrom(r.Context()).id)
	if !ok {
		a.renderAdminMessage(w, http.StatusNotFound, "Preview gone", "Preview again from the template page.")
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(html)) //nolint:errcheck // the status is sent
}

var restoreFields = fieldSpec{allowed: []string{"version", "language"}}

func (a *Admin) dashRestore(w http.ResponseWriter, r *http.Request) {
	f, ok := a.dashForm(w, r, restoreFields)
	if !ok {
		return
	}
	name := r.PathValue("name")
	v, err := strconv.Atoi(f["version"])
	if err != nil {
		v = 0
	}
	restored := 0
	lang, err := a.svc.TemplateLanguage(f["language"])
	switch {
	case err != nil:
	case lang.Tag() == a.svc.Languages().Default().Tag():
		var tv *admin.TemplateVersion
		if tv, err = a.svc.RestoreTemplate(r.Context(), actorFrom(r.Context()), name, v); err == nil {
			restored = tv.Version
		}
	default:
		var vv *admin.VariantVersion
		if vv, err = a.svc.RestoreTemplateIn(r.Context(), actorFrom(r.Context()), name, lang.Tag(), v); err == nil {
			restored = vv.Version
		}
	}
	p, status := a.templatePage(r, name, f["language"])
	if err != nil {
		status, p.Error = a.adminProblem(err)
	} else {
		p.Flash = "Version " + strconv.Itoa(v) + " restored as version " + strconv.Itoa(restored) + "."
	}
	a.renderAdmin(w, status, templates.AdminTemplates, p)
}

func (a *Admin) outboxPage(r *http.Request, state string) (adminPage, int) {
	p := a.page(r, "Outbox", "outbox")
	p.States = []string{admin.MailQueued, admin.MailRetrying, admin.MailFailed, admin.MailSent}
	p.State = state
	msgs, err := a.svc.ListOutbox(r.Context(), state, 0)
	if err != nil {
		status, text := a.adminProblem(err)
		p.Error = text
		return p, status
	}
	p.Messages = msgs
	return p, http.StatusOK
}

func (a *Admin) dashOutbox(w http.ResponseWriter, r *http.Request) {
	p, status := a.outboxPage(r, r.URL.Query().Get("state"))
	a.renderAdmin(w, status, templates.AdminOutbox, p)
}

var retryFields = fieldSpec{allowed: []string{"id", "state"}}

func (a *Admin) dashRetry(w http.ResponseWriter, r *http.Request) {
	f, ok := a.dashForm(w, r, retryFields)
	if !ok {
		return
	}
	err := a.svc.RetryMail(r.Context(), actorFrom(r.Context()), f["id"])
	p, status := a.outboxPage(r, f["state"])
	if err != nil {
		status, p.Error = a.adminProblem(err)
	} else {
		p.Flash = "The message is queued again."
	}
	a.renderAdmin(w, status, templates.AdminOutbox, p)
}

const dashLogPage = 50

func (a *Admin) dashLogs(w http.ResponseWriter, r *http.Request) {
	p := a.page(r, "Audit log", "logs")
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 0)
	entries, total, err := a.svc.AuditLog(r.Context(), page, dashLogPage)
	if err != nil {
		status, text := a.adminProblem(err)
		p.Error = text
		a.renderAdmin(w, status, templates.AdminLogs, p)
		return
	}
	p.Entries, p.Total, p.Page = entries, total, page
	p.HasPrev, p.PrevPage = page > 0, page-1
	p.HasNext, p.NextPage = (page+1)*dashLogPage < total, page+1
	a.renderAdmin(w, http.StatusOK, templates.AdminLogs, p)
}
