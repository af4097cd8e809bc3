package templates

import (
	"fmt"
	"io"
	"strings"

	"github.com/osteele/liquid"
)

// A custom reset page replaces the built-in reset form (Auth0's "Customize
// Password Reset Page" for its Classic page). Like Auth0's it is Liquid, with
// Auth0's variable names, so a page written for Auth0 needs few changes; like
// the HTML bodies of emails, every output is HTML-escaped after its filters
// (see escapeOutputs), so a user's name or email cannot become markup.

// ResetPageData is what a custom reset page shows. See bindings for the names
// the template uses.
type ResetPageData struct {
	Email  string
	Ticket string // the ticket, for pages that post it in Auth0's ticket field
	CSRF   string
	// Lang is the first tag of the request's Accept-Language ("" if none).
	Lang string
	// PasswordPolicy is Auth0's level name (none, low, fair, good, excellent;
	// nist is ours) and MinLength the policy's minimum length in code points.
	PasswordPolicy string
	MinLength      int
	Tenant         TenantData
	Application    ApplicationData
	Connection     string
	// Rules are the connection's password rules: unmarked before a submit,
	// marked met or unmet after one the server refused (HTML mode).
	Rules []RuleLine
	// Error is why the last submit was refused (HTML mode), or "". In Liquid
	// "" is true: a page tests it with {% if error != "" %}.
	Error string
	// FormAction is the path the form posts to; AssetsPath is where the
	// built-in stylesheet and scripts are served.
	FormAction, AssetsPath string
}

// TenantData is Auth0's tenant object: the site as the Caddyfile names it.
type TenantData struct {
	Name, FriendlyName, PictureURL, SupportEmail, SupportURL string
}

// bindings maps d to Auth0's variable names (tenant.friendly_name,
// csrf_token...) and ours (rules, error, form_action...). Values are as they
// are: the page escapes what it writes.
func (d ResetPageData) bindings() liquid.Bindings {
	app := map[string]any{"name": d.Application.Name, "clientID": d.Application.ClientID}
	// Auth0's default page writes password_complexity_options as a JavaScript
	// object; here it is its JSON text, which an attribute carries intact.
	complexity := fmt.Sprintf(`{"min_length":%d}`, d.MinLength)
	return liquid.Bindings{
		"email":                       d.Email,
		"ticket":                      d.Ticket,
		"csrf_token":                  d.CSRF,
		"lang":                        d.Lang,
		"password_policy":             d.PasswordPolicy,
		"password_complexity_options": complexity,
		"min_length":                  d.MinLength,
		"tenant": map[string]any{
			"name": d.Tenant.Name, "friendly_name": d.Tenant.FriendlyName, "picture_url": d.Tenant.PictureURL,
			"support_email": d.Tenant.SupportEmail, "support_url": d.Tenant.SupportURL,
			// Auth0's default page reads these with | default: '...'.
			"colors": map[string]any{"primary": "", "page_background": ""},
		},
		"application": app,
		"client":      app,
		"connection":  map[string]any{"name": d.Connection},
		"rules":       ruleBindings(d.Rules),
		"error":       d.Error,
		"form_action": d.FormAction,
		"assets_path": d.AssetsPath,
	}
}

// ruleBindings lists rules as Liquid reads them: r.code, r.text, r.count,
// r.state ("met", "unmet" or ""), r.live and r.items.
func ruleBindings(rules []RuleLine) []map[string]any {
	out := make([]map[string]any, 0, len(rules))
	for _, r := range rules {
		out = append(out, map[string]any{
			"code": r.Code, "text": r.Text, "count": r.Count, "state": r.State, "live": r.Live,
			"items": ruleBindings(r.Items),
		})
	}
	return out
}

// resetPageNames are the custom page's top-level variable names.
var resetPageNames = func() []string {
	var names []string
	for name := range SampleResetPageData().bindings() {
		names = append(names, name)
	}
	return names
}()

// SampleResetPageData is what a custom page is checked with when it is
// compiled, as an email is with SampleData.
func SampleResetPageData() ResetPageData {
	return ResetPageData{
		Email: "jane@example.com", Ticket: "SAMPLE-TICKET", CSRF: "SAMPLE-CSRF-TOKEN", Lang: "en",
		PasswordPolicy: "good", MinLength: 8,
		Tenant: TenantData{Name: "app.example.com", FriendlyName: "Example", SupportEmail: "support@example.com",
			SupportURL: "https://example.com/support"},
		Application: ApplicationData{Name: "Example App", ClientID: "example-app"},
		Connection:  "Username-Password-Authentication",
		Rules: []RuleLine{
			{Code: "lengthAtLeast", Text: "At least 8 characters in length", Count: 8, Live: true},
			{Code: "containsAtLeast", Text: "At least 3 of the following 4 types of characters:", Count: 3, Live: true,
				Items: []RuleLine{{Code: "lowerCase", Text: "Lower case letters (a-z)", Live: true}}},
		},
		FormAction: "/lo/reset", AssetsPath: "/lo/assets",
	}
}

// ResetPage is a compiled custom reset page.
type ResetPage struct {
	t   *liquid.Template
	src escapedSource
}

// resetPagePart names the page in its errors.
const resetPagePart = "reset page"

// CompileResetPage parses src and renders it with SampleResetPageData, before a
// submit and after a refused one, so that a syntax error, a refused tag or an
// unknown variable is a configuration error and not a user's failed page.
// Errors name the line.
func CompileResetPage(src string) (*ResetPage, error) {
	t, esc, err := parseEscaped(resetPagePart, src, resetPageNames, "the reset page")
	if err != nil {
		return nil, err
	}
	p := &ResetPage{t: t, src: esc}
	refused := SampleResetPageData()
	refused.Error = "Password is too weak."
	for i := range refused.Rules {
		refused.Rules[i].State = RuleUnmet
	}
	for _, d := range []ResetPageData{SampleResetPageData(), refused} {
		if err := p.Render(io.Discard, d); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Render writes the page filled with d, or nothing if it fails. An error does
// not quote d's values (the ticket, the CSRF token): only the template's source.
func (p *ResetPage) Render(w io.Writer, d ResetPageData) error {
	out, err := renderPart(resetPagePart, p.t, d.bindings(), p.src)
	if err != nil {
		return redact(err, d.Ticket, d.CSRF)
	}
	_, err = io.WriteString(w, out)
	return err
}

// redact removes secrets from an error a filter may have built from a value.
func redact(err error, secrets ...string) error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return fmt.Errorf("%s", msg)
}
