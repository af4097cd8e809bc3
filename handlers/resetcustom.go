package handlers

import (
	"bytes"
	"log/slog"
	"net/http"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// UseResetPage replaces the reset form with the operator's page (Auth0's
// "Customize Password Reset Page"); nil keeps the built-in form. Call it before
// the handler serves. Only the form is replaced: the link's first page, the
// error pages and the success page stay the built-in ones.
func (p *Public) UseResetPage(page *templates.ResetPage) { p.pages.UseResetPage(page) }

// renderCustomForm renders the operator's reset page, if there is one, and
// reports whether it did. Compiling the page at provision checked its syntax
// and variables; what can still fail is a bound (a loop over a long value), and
// then the built-in form is shown rather than an error, so that no user is left
// without a form. The page gets the built-in form's headers and CSP, and
// connect-src 'self' on top, which its own script needs to post the form in
// XHR mode (default-src 'none' refuses fetch and XMLHttpRequest); it still
// reaches no other origin.
func (p *Public) renderCustomForm(w http.ResponseWriter, r *http.Request, status int, form resetFormState) bool {
	page := p.pages.CustomReset()
	if page == nil {
		return false
	}
	var buf bytes.Buffer
	if err := page.Render(&buf, p.customFormData(r, form)); err != nil {
		p.log.Error("render the custom reset page; showing the built-in form", slog.Any("error", err))
		return false
	}
	h := w.Header()
	setPageHeaders(h, origin(form.info.ResultURL))
	h.Set("Content-Security-Policy", h.Get("Content-Security-Policy")+"; connect-src 'self'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if _, err := buf.WriteTo(w); err != nil {
		p.log.Debug("write the custom reset page", slog.Any("error", err))
	}
	return true
}

// resetFormState is what a reset form shows: the ticket and what it is for,
// the CSRF token, and after a refused submit why and the rules marked.
type resetFormState struct {
	token, csrf, problem string
	info                 *reset.TicketInfo
	rules                []templates.RuleLine
}

// customFormData fills Auth0's variables of a reset page, and ours.
func (p *Public) customFormData(r *http.Request, form resetFormState) templates.ResetPageData {
	site := p.svc.Site()
	info := form.info
	d := templates.ResetPageData{
		Email: info.Email, Ticket: form.token, CSRF: form.csrf, Lang: p.lang(r, "", info.Language).Tag(),
		Tenant: templates.TenantData{Name: site.PublicURL.Hostname(), FriendlyName: site.FriendlyName,
			SupportEmail: site.SupportEmail, SupportURL: site.SupportURL},
		Application: templates.ApplicationData{Name: info.AppName, ClientID: info.ClientID},
		Connection:  info.Connection, Rules: form.rules, Error: form.problem,
		FormAction: p.resetPath, AssetsPath: p.assetsPath,
	}
	if conn, ok := site.Connection(info.Connection); ok {
		pol := conn.Policy.Effective()
		d.PasswordPolicy, d.MinLength = string(pol.Level), pol.MinLength
	}
	return d
}
