// Package templates holds the default emails and pages (embedded in the binary) and
// renders them. Emails use Liquid, the syntax of Auth0's email templates, with
// Auth0's variable names, so an operator can paste an Auth0 template in; pages use
// html/template.
package templates

import (
	"embed"
	"errors"
	"fmt"
	"html"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/render"
)

//go:embed emails pages static locales
var files embed.FS

// Email template names. ResetEmail is Auth0's "Change Password (Link)"; Auth0's
// legacy name change_password is accepted as an alias by callers.
const (
	ResetEmail      = "reset_email"
	PasswordChanged = "password_changed" // the notice after a reset (ours; Auth0 uses an Action)
)

// EmailSource is the text of one email template, as stored and edited.
type EmailSource struct {
	Subject string `json:"subject"`
	HTML    string `json:"body"`
	Text    string `json:"text,omitempty"` // empty: derived from HTML
}

// DefaultEmail returns the built-in source of the named email in lang (nil:
// English). The built-in emails are Liquid sources written from the language's
// catalog: the files under emails/ are text/templates, with [[ ]] delimiters,
// that put the catalog's texts (h: HTML-escaped, t: as they are) around the
// Liquid variables, so that the result is an ordinary template an operator can
// read, copy and edit.
func DefaultEmail(name string, lang *Lang) (EmailSource, error) {
	if lang == nil {
		lang = English()
	}
	read := func(ext string, escape bool) (string, error) {
		b, err := files.ReadFile("emails/" + name + "." + ext)
		if err != nil {
			return "", err
		}
		return writeDefault(name+"."+ext, string(b), lang, escape)
	}
	subject, err := read("subject", false)
	if err != nil {
		return EmailSource{}, fmt.Errorf("no built-in email %q", name)
	}
	body, err := read("html", true)
	if err != nil {
		return EmailSource{}, err
	}
	text, err := read("txt", false)
	if err != nil {
		return EmailSource{}, err
	}
	return EmailSource{Subject: strings.TrimSpace(subject), HTML: body, Text: text}, nil
}

// writeDefault executes one built-in file in lang.
func writeDefault(file, src string, lang *Lang, escape bool) (string, error) {
	say := func(escape bool) func(key string, args ...any) string {
		return func(key string, args ...any) string {
			s, _ := lang.cat.text(key, 0)
			if escape {
				s = html.EscapeString(s)
			}
			return fill(s, args)
		}
	}
	t, err := texttemplate.New(file).Delims("[[", "]]").
		Funcs(texttemplate.FuncMap{"h": say(true), "t": say(false)}).Parse(src)
	if err != nil {
		return "", fmt.Errorf("built-in email %s: %w", file, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, lang); err != nil {
		return "", fmt.Errorf("built-in email %s in %s: %w", file, lang.Tag(), err)
	}
	return b.String(), nil
}

// EmailData is what an email template may use. Field names become Auth0's variable
// names (see Bindings).
type EmailData struct {
	URL             string // the reset link
	URLLifetime     string // how long the link lives, in words ("1 hour")
	CancelURL       string // "this wasn't me": cancels the link
	ForgotURL       string // where to ask for a new link
	ChangedAt       string // when the password changed (the notice)
	RemoteIP        string // from where (the notice)
	User            UserData
	Application     ApplicationData
	ConnectionName  string
	FriendlyName    string
	SupportEmail    string
	SupportURL      string
	RequestLanguage string
}

// UserData is the user as the app described them.
type UserData struct {
	UserID, Email, Name, Nickname, GivenName, FamilyName string
	EmailVerified                                        bool
	// Language is the user's own language as the app gave it ("" if not).
	Language string
}

// ApplicationData is the client (application) the reset was asked for.
type ApplicationData struct {
	Name, ClientID string
}

// SampleData is used to check a template before it is accepted and to preview it.
func SampleData() EmailData {
	return EmailData{
		URL:         "https://app.example.com/lo/reset?ticket=SAMPLE-TICKET",
		URLLifetime: English().Duration(time.Hour),
		CancelURL:   "https://app.example.com/lo/cancel?id=SAMPLE-ID",
		ForgotURL:   "https://app.example.com/lo/forgot?client_id=example-app",
		ChangedAt:   English().Date(time.Date(2006, time.January, 2, 15, 4, 0, 0, time.UTC)),
		RemoteIP:    "192.0.2.10",
		User: UserData{UserID: "user-123", Email: "jane@example.com", Name: "Jane Doe",
			Nickname: "jane", GivenName: "Jane", FamilyName: "Doe", EmailVerified: true},
		Application:     ApplicationData{Name: "Example App", ClientID: "example-app"},
		ConnectionName:  "Username-Password-Authentication",
		FriendlyName:    "Example",
		SupportEmail:    "support@example.com",
		SupportURL:      "https://example.com/support",
		RequestLanguage: "en",
	}
}

// bindings maps d to Auth0's variable names. The values are as they are: the HTML
// body escapes what it writes (see outputFilter), and subject and text are not
// HTML.
func (d EmailData) bindings() liquid.Bindings {
	user := map[string]any{
		"user_id": d.User.UserID, "email": d.User.Email, "name": d.User.Name,
		"nickname": d.User.Nickname, "given_name": d.User.GivenName,
		"family_name": d.User.FamilyName, "email_verified": d.User.EmailVerified,
		// Auth0's templates branch on user.user_metadata.lang.
		"language": d.User.Language, "user_metadata": map[string]any{"lang": d.User.Language},
	}
	app := map[string]any{"name": d.Application.Name, "clientID": d.Application.ClientID}
	return liquid.Bindings{
		"url":              d.URL,
		"url_lifetime":     d.URLLifetime,
		"cancel_url":       d.CancelURL,
		"forgot_url":       d.ForgotURL,
		"changed_at":       d.ChangedAt,
		"remote_ip":        d.RemoteIP,
		"user":             user,
		"application":      app,
		"client":           app, // Auth0's alias
		"connection":       map[string]any{"name": d.ConnectionName},
		"friendly_name":    d.FriendlyName,
		"tenant":           d.FriendlyName,
		"support_email":    d.SupportEmail,
		"support_url":      d.SupportURL,
		"request_language": d.RequestLanguage,
	}
}

// boundNames are the top-level variable names every template has.
var boundNames = func() []string {
	var names []string
	for name := range SampleData().bindings() {
		names = append(names, name)
	}
	return names
}()

// Rendered is an email ready to be sent.
type Rendered struct {
	Subject, HTML, Text string
}

// Email is a compiled email template.
type Email struct {
	subject, html, text *liquid.Template
	// htmlSource maps errors of the rewritten HTML body back to its source.
	htmlSource escapedSource
}

// Two engines, configured once: strict variables (a typo is an error, not an
// empty string) and no file access in both. The HTML body's engine has the
// output filter, and Auth0's escape and escape_once are the identity there,
// because every output is escaped after its filters anyway: "| escape" must not
// escape a second time, and "| escape | url_decode" must not unescape. Subject
// and text are not HTML: their escape filters are Liquid's, as an Auth0
// template expects (escape does not double an entity already there).
var (
	htmlEngine = newEngine(true)
	textEngine = newEngine(false)
)

func newEngine(htmlBody bool) *liquid.Engine {
	e := liquid.NewEngine()
	e.StrictVariables()
	// checkTags refuses these before parsing; the tags are replaced as well, so
	// that no path can reach the library's file access.
	refuse := func(tag string) liquid.Renderer {
		return func(render.Context) (string, error) {
			return "", fmt.Errorf("the %s tag is not allowed in email templates", tag)
		}
	}
	for tag := range refusedTags {
		e.RegisterTag(tag, refuse(tag))
	}
	e.RegisterFilter(tickFilter, tick)
	if !htmlBody {
		e.RegisterFilter("escape", func(s string) string { return html.EscapeString(html.UnescapeString(s)) })
		return e
	}
	identity := func(s string) string { return s }
	e.RegisterFilter("escape", identity)
	e.RegisterFilter("escape_once", identity)
	e.RegisterFilter(outputFilter, outputHTML)
	return e
}

// CompileEmail parses src and renders it once with SampleData, so that syntax errors,
// refused tags and unknown variables are refused when a template is saved, not
// when a user waits for their email. Errors name the part and the line.
func CompileEmail(src EmailSource) (*Email, error) {
	var e Email
	var err error
	if e.subject, err = parseText("subject", src.Subject); err != nil {
		return nil, err
	}
	if e.html, e.htmlSource, err = parseHTML("body", src.HTML); err != nil {
		return nil, err
	}
	if src.Text != "" {
		if e.text, err = parseText("text", src.Text); err != nil {
			return nil, err
		}
	}
	if _, err := e.Render(SampleData()); err != nil {
		return nil, err
	}
	return &e, nil
}

// parseText parses a part that is not HTML.
func parseText(part, src string) (*liquid.Template, error) {
	if err := checkTags(part, scanTokens(src)); err != nil {
		return nil, err
	}
	if _, err := textEngine.ParseTemplateLocation([]byte(src), "", 1); err != nil {
		return nil, sourceError(part, err, escapedSource{})
	}
	t, err := textEngine.ParseTemplateLocation([]byte(countLoops(src, scanTokens(src))), "", 1)
	if err != nil {
		return nil, sourceError(part, err, escapedSource{})
	}
	return t, nil
}

// parseHTML parses an email's HTML body with every output escaped.
func parseHTML(part, src string) (*liquid.Template, escapedSource, error) {
	return parseEscaped(part, src, boundNames, emailTemplates)
}

// parseEscaped parses HTML with every output escaped, for a template whose
// top-level variables are bound and which is one of kind (in the error that
// refuses a tag). The operator's own source is parsed first, so that a syntax
// error quotes what they wrote.
func parseEscaped(part, src string, bound []string, kind string) (*liquid.Template, escapedSource, error) {
	toks := scanTokens(src)
	if err := refuseTags(part, kind, toks); err != nil {
		return nil, escapedSource{}, err
	}
	if _, err := htmlEngine.ParseTemplateLocation([]byte(src), "", 1); err != nil {
		return nil, escapedSource{}, sourceError(part, err, escapedSource{})
	}
	esc, err := escapeOutputs(src, toks, bound)
	if err != nil {
		return nil, escapedSource{}, &TemplateError{Part: part, Reason: err.Error()}
	}
	esc.src = countLoops(esc.src, scanTokens(esc.src))
	t, perr := htmlEngine.ParseTemplateLocation([]byte(esc.src), "", 1)
	if perr != nil {
		return nil, escapedSource{}, sourceError(part, perr, esc)
	}
	return t, esc, nil
}

// sourceError turns Liquid's error into a TemplateError. Liquid's message already
// quotes the offending source; the line is kept apart for the API's answer.
func sourceError(part string, err liquid.SourceError, src escapedSource) *TemplateError {
	reason := src.original(err.Error())
	if i := strings.Index(reason, ": "); i >= 0 && strings.HasPrefix(reason, "Liquid error") {
		reason = reason[i+2:]
	}
	return &TemplateError{Part: part, Line: err.LineNumber(), Reason: reason}
}

// TemplateError says which part of a template is wrong, on which line, and why.
type TemplateError struct {
	Part   string // "subject", "body" or "text"
	Line   int
	Reason string
}

func (e *TemplateError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s, line %d: %s", e.Part, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Part, e.Reason)
}

// Render fills the template with d.
func (e *Email) Render(d EmailData) (Rendered, error) {
	var r Rendered
	var err error
	b := d.bindings()
	if r.Subject, err = renderPart("subject", e.subject, b, escapedSource{}); err != nil {
		return r, err
	}
	r.Subject = strings.Join(strings.Fields(r.Subject), " ")
	if r.HTML, err = renderPart("body", e.html, b, e.htmlSource); err != nil {
		return r, err
	}
	if e.text == nil {
		r.Text = TextFromHTML(r.HTML)
		return r, nil
	}
	r.Text, err = renderPart("text", e.text, b, escapedSource{})
	return r, err
}

func renderPart(part string, t *liquid.Template, b liquid.Bindings, src escapedSource) (string, error) {
	b[budgetVar] = &loopBudget{left: maxLoopRuns}
	out := &limitedBuilder{max: maxRenderBytes}
	var err error
	if serr := t.FRender(out, b); serr != nil {
		err = serr
	} else if out.overflow {
		err = errTooLong
	}
	if err == nil {
		return out.String(), nil
	}
	if bound := boundError(err); bound != nil {
		return "", &TemplateError{Part: part, Reason: bound.Error()}
	}
	var se liquid.SourceError
	if errors.As(err, &se) {
		return "", sourceError(part, se, src)
	}
	return "", &TemplateError{Part: part, Reason: src.original(err.Error())}
}
