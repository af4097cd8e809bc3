package handlers

import (
	"net/http"
	"net/url"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

var forgotFields = fieldSpec{allowed: []string{"_csrf", "client_id", "connection", "email"}}

// forgotPage is a "Forgot your password?" page for apps without one: a login page
// links to /lo/forgot?client_id=...&connection=....
func (p *Public) forgotPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	form, problem := p.forgotForm(q.Get("client_id"), q.Get("connection"))
	if problem != "" {
		p.renderMessage(w, http.StatusBadRequest, "Please Try Again", problem, "", "")
		return
	}
	form.CSRF = p.csrf.token(w, r)
	p.render(w, http.StatusOK, templates.PageForgot, form)
}

// forgotForm checks the client and connection a forgot page is for; problem says
// what is wrong with them, for the user.
func (p *Public) forgotForm(clientID, conn string) (form templates.PageData, problem string) {
	client, ok := p.svc.Site().Client(clientID)
	if clientID != "" && !ok {
		return form, "This link names an application that does not exist."
	}
	if conn == "" {
		conn = p.svc.Site().DefaultConnection()
	}
	if p.svc.CheckConnection(conn) != nil {
		return form, "This link names a connection that does not exist or has no passwords to reset."
	}
	data := templates.PageData{Title: "Forgot Your Password?", FormAction: "forgot", ClientID: clientID, Connection: conn}
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
		p.badForm(w, err)
		return
	}
	form, problem := p.forgotForm(fields["client_id"], fields["connection"])
	if problem != "" {
		p.renderMessage(w, http.StatusBadRequest, "Please Try Again", problem, "", "")
		return
	}
	if !p.csrf.check(r, fields["_csrf"]) {
		p.renderMessage(w, http.StatusForbidden, "Please Try Again",
			"Your session expired or the form was sent from another site. Reload the page and try again.", "", "")
		return
	}
	_, err = p.svc.RequestReset(r.Context(), reset.Request{
		ClientID: fields["client_id"], Email: fields["email"], Connection: form.Connection,
		IP: p.clientIP(r), Language: requestLanguage(r),
	})
	if err != nil {
		p.forgotFailed(w, r, form, fields["email"], err)
		return
	}
	// Auth0's page, with the application's name and the way back to it that
	// the forgot page had.
	again := "forgot?" + url.Values{"client_id": {fields["client_id"]}, "connection": {form.Connection}}.Encode()
	p.render(w, http.StatusOK, templates.PageMessage, templates.PageData{
		Title: "Check Your Email", AppName: form.AppName, BackURL: form.BackURL,
		Message: "Please check the email address " + fields["email"] + " for instructions to reset your password.",
		LinkURL: again, LinkText: "Resend email",
	}, origin(form.BackURL))
}

// forgotFailed answers a request the flow refused: the form again for an
// address the user can fix, a page for a limit or an outage.
func (p *Public) forgotFailed(w http.ResponseWriter, r *http.Request, form templates.PageData, email string, err error) {
	f := faultOf(p.log, err)
	switch f.Kind {
	case fault.RateLimited:
		setRetryHeaders(w.Header(), f)
		p.renderMessage(w, http.StatusTooManyRequests, "Please Try Again",
			"You have exceeded the amount of emails. Wait a few minutes and try again.", "", "")
	case fault.Invalid:
		form.CSRF, form.Email, form.Error = p.csrf.token(w, r), email, forgotProblem(f)
		p.render(w, http.StatusBadRequest, templates.PageForgot, form)
	default:
		p.renderMessage(w, http.StatusServiceUnavailable, "Please Try Again",
			"We had a problem sending the email, please try again later.", "", "")
	}
}

// forgotProblem words a refused address for a person.
func forgotProblem(f *fault.Error) string {
	if f.Message == "Missing required parameter: email" {
		return "Please enter an email address."
	}
	return "Please enter a valid email address."
}
