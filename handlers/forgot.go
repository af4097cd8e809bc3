package handlers

import (
	"net/http"
	"net/url"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

var forgotFields = fieldSpec{allowed: []string{"_csrf", "client_id", "connection", "email", "ui_locales"}}

// forgotPage is a "Forgot your password?" page for apps without one: a login page
// links to /lo/forgot?client_id=...&connection=....
func (p *Public) forgotPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang := p.lang(r, "", "")
	form, problem := p.forgotForm(lang, q.Get("client_id"), q.Get("connection"))
	if problem != "" {
		p.renderMessage(w, http.StatusBadRequest, lang, lang.T("page.try_again"), problem)
		return
	}
	form.CSRF = p.csrf.token(w, r)
	p.render(w, http.StatusOK, templates.PageForgot, form)
}

// forgotForm checks the client and connection a forgot page is for; problem says
// what is wrong with them, for the user.
func (p *Public) forgotForm(lang *templates.Lang, clientID, conn string) (form templates.PageData, problem string) {
	client, ok := p.svc.Site().Client(clientID)
	if clientID != "" && !ok {
		return form, lang.T("forgot.unknown_client")
	}
	if conn == "" {
		conn = p.svc.Site().DefaultConnection()
	}
	if p.svc.CheckConnection(conn) != nil {
		return form, lang.T("forgot.unknown_connection")
	}
	data := templates.PageData{Lang: lang, Title: lang.T("forgot.title"), FormAction: "forgot", ClientID: clientID, Connection: conn}
	if client != nil {
		data.AppName, data.BackURL = client.Name, client.ResultURL
	}
	return data, ""
}

// forgotSubmit asks for a reset and always says "Check Your Email" for a well-formed
// address, as the request endpoint always answers 200.
func (p *Public) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxRequestBody, forgotFields)
	if err != nil {
		p.badForm(w, r, err)
		return
	}
	lang := p.lang(r, fields["ui_locales"], "")
	form, problem := p.forgotForm(lang, fields["client_id"], fields["connection"])
	if problem != "" {
		p.renderMessage(w, http.StatusBadRequest, lang, lang.T("page.try_again"), problem)
		return
	}
	if !p.csrf.check(r, fields["_csrf"]) {
		p.renderMessage(w, http.StatusForbidden, lang, lang.T("page.try_again"), lang.T("page.session_expired_reload"))
		return
	}
	_, err = p.svc.RequestReset(r.Context(), reset.Request{
		ClientID: fields["client_id"], Email: fields["email"], Connection: form.Connection,
		IP: p.clientIP(r), Language: r.Header.Get("Accept-Language"), UILocales: uiLocales(r, fields),
	})
	if err != nil {
		p.forgotFailed(w, r, form, fields["email"], err)
		return
	}
	// Auth0's page, with the application's name and the way back to it that
	// the forgot page had.
	again := "forgot?" + url.Values{"client_id": {fields["client_id"]}, "connection": {form.Connection}, "ui_locales": {lang.Tag()}}.Encode()
	p.render(w, http.StatusOK, templates.PageMessage, templates.PageData{
		Lang: lang, Title: lang.T("forgot.sent_title"), AppName: form.AppName, BackURL: form.BackURL,
		Message: lang.T("forgot.sent_text", "email", fields["email"]),
		LinkURL: again, LinkText: lang.T("forgot.resend"),
	}, origin(form.BackURL))
}

// forgotFailed answers a request the flow refused: the form again for an
// address the user can fix, a page for a limit or an outage.
func (p *Public) forgotFailed(w http.ResponseWriter, r *http.Request, form templates.PageData, email string, err error) {
	f := faultOf(p.log, err)
	noteFault(w, f)
	switch f.Kind {
	case fault.RateLimited:
		setRetryHeaders(w.Header(), f)
		p.renderMessage(w, http.StatusTooManyRequests, form.Lang, form.Lang.T("page.try_again"), form.Lang.T("forgot.too_many"))
	case fault.Invalid:
		form.CSRF, form.Email, form.Error = p.csrf.token(w, r), email, forgotProblem(form.Lang, f)
		p.render(w, http.StatusBadRequest, templates.PageForgot, form)
	default:
		p.renderMessage(w, http.StatusServiceUnavailable, form.Lang, form.Lang.T("page.try_again"), form.Lang.T("forgot.send_failed"))
	}
}

// forgotProblem words a refused address for a person.
func forgotProblem(lang *templates.Lang, f *fault.Error) string {
	if f.Message == "Missing required parameter: email" {
		return lang.T("forgot.email_missing")
	}
	return lang.T("forgot.email_invalid")
}
