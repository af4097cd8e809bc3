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

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/render"
)

//go:embed emails pages static
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

// DefaultEmail returns the built-in source of the named email.
func DefaultEmail(name string) (EmailSource, error) {
	read := func(ext string) (string, error) {
		b, err := files.ReadFile("emails/" + name + "." + ext)
		return string(b), err
	}
	subject, err := read("subject")
	if err != nil {
		return EmailSource{}, fmt.Errorf("no built-in email %q", name)
	}
	body, err := read("html")
	if err != nil {
		return EmailSource{}, err
	}
	text, err := read("txt")
	if err != nil {
		return EmailSource{}, err
	}
	return EmailSource{Subject: strings.TrimSpace(subject), HTML: body, Text: text}, nil
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
}

// ApplicationData is the client (application) the reset was asked for.
type ApplicationData struct {
	Name, ClientID string
}

// SampleData is used to check a template before it is accepted and to preview it.
func SampleData() EmailData {
	return EmailData{
		URL:         "https://app.example.com/lo/reset?ticket=SAMPLE-TICKET",
		URLLifetime: "1 hour",
		CancelURL:   "https://app.example.com/lo/cancel?id=SAMPLE-ID",
		ForgotURL:   "https://app.example.com/lo/forgot?client_id=example-app",
		ChangedAt:   "Mon, 02 Jan 2006 15:04 UTC",
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

// bindings maps d to Auth0's variable names. Every string goes through esc, which
// escapes HTML for the HTML body and is the identity for subject and text.
func (d EmailData) bindings(esc func(string) string) liquid.Bindings {
	user := map[string]any{
		"user_id": esc(d.User.UserID), "email": esc(d.User.Email), "name": esc(d.User.Name),
		"nickname": esc(d.User.Nickname), "given_name": esc(d.User.GivenName),
		"family_name": esc(d.User.FamilyName), "email_verified": d.User.EmailVerified,
	}
	app := map[string]any{"name": esc(d.Application.Name), "clientID": esc(d.Application.ClientID)}
	return liquid.Bindings{
		"url":              esc(d.URL),
		"url_lifetime":     esc(d.URLLifetime),
		"cancel_url":       esc(d.CancelURL),
		"forgot_url":       esc(d.ForgotURL),
		"changed_at":       esc(d.ChangedAt),
		"remote_ip":        esc(d.RemoteIP),
		"user":             user,
		"application":      app,
		"client":           app, // Auth0's alias
		"connection":       map[string]any{"name": esc(d.ConnectionName)},
		"friendly_name":    esc(d.FriendlyName),
		"tenant":           esc(d.FriendlyName),
		"support_email":    esc(d.SupportEmail),
		"support_url":      esc(d.SupportURL),
		"request_language": esc(d.RequestLanguage),
	}
}

// Rendered is an email ready to be sent.
type Rendered struct {
	Subject, HTML, Text string
}

// Email is a compiled email template.
type Email struct {
	subject, html, text *liquid.Template
}

// engine is configured once: strict variables (a typo is an error, not an empty
// string), no file access, and an escape filter that does not double-escape.
var engine = newEngine()

func newEngine() *liquid.Engine {
	e := liquid.NewEngine()
	e.StrictVariables()
	refuse := func(tag string) liquid.Renderer {
		return func(render.Context) (string, error) {
			return "", fmt.Errorf("the %s tag is not allowed in email templates", tag)
		}
	}
	for _, tag := range []string{"include", "render", "layout"} {
		e.RegisterTag(tag, refuse(tag))
	}
	// Variables are already escaped in HTML bodies; Auth0's templates still say
	// "| escape", which must not escape them a second time.
	e.RegisterFilter("escape", func(s string) string { return html.EscapeString(html.UnescapeString(s)) })
	return e
}

// CompileEmail parses src and renders it once with SampleData, so that syntax errors
// and unknown variables are refused when a template is saved, not when a user
// waits for their email. Errors name the part and the line.
func CompileEmail(src EmailSource) (*Email, error) {
	var e Email
	var err error
	if e.subject, err = parse("subject", src.Subject); err != nil {
		return nil, err
	}
	if e.html, err = parse("body", src.HTML); err != nil {
		return nil, err
	}
	if src.Text != "" {
		if e.text, err = parse("text", src.Text); err != nil {
			return nil, err
		}
	}
	if _, err := e.Render(SampleData()); err != nil {
		return nil, err
	}
	return &e, nil
}

func parse(part, src string) (*liquid.Template, error) {
	t, err := engine.ParseTemplateLocation([]byte(src), "", 1)
	if err != nil {
		return nil, sourceError(part, err)
	}
	return t, nil
}

// sourceError turns Liquid's error into a TemplateError. Liquid's message already
// quotes the offending source; the line is kept apart for the API's answer.
func sourceError(part string, err liquid.SourceError) *TemplateError {
	reason := err.Error()
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
	plain := func(s string) string { return s }
	if r.Subject, err = renderPart("subject", e.subject, d.bindings(plain)); err != nil {
		return r, err
	}
	r.Subject = strings.Join(strings.Fields(r.Subject), " ")
	if r.HTML, err = renderPart("body", e.html, d.bindings(html.EscapeString)); err != nil {
		return r, err
	}
	if e.text == nil {
		r.Text = TextFromHTML(r.HTML)
		return r, nil
	}
	r.Text, err = renderPart("text", e.text, d.bindings(plain))
	return r, err
}

func renderPart(part string, t *liquid.Template, b liquid.Bindings) (string, error) {
	out, err := t.RenderString(b)
	if err == nil {
		return out, nil
	}
	var se liquid.SourceError
	if errors.As(err, &se) {
		return "", sourceError(part, se)
	}
	return "", &TemplateError{Part: part, Reason: err.Error()}
}
