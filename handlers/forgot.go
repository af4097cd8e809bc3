package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/caddy-password-reset/caddy-password-reset/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

var forgotFields = fieldSpec{allowed: []string{"_csrf", "client_id", "connection", "email"}}

// forgotPage is a "Forgot your password?" page for apps without one: a login page
// links to /lo/forgot?client_id=...&connection=....
func (p *Public) forgotPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	form, err := p.forgotForm(q.Get("client_id"), q.Get("connection"))
	if err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Please Try Again", err.Error(), "", "")
		return
	}
	form.CSRF = p.csrf.token(w, r)
	p.render(w, http.StatusOK, templates.PageForgot, form)
}

// forgotForm checks the client and connection a forgot page is for.
func (p *Public) forgotForm(clientID, conn string) (templates.PageData, error) {
	client, ok := p.svc.Client(clientID)
	if clientID != "" && !ok {
		return templates.PageData{}, errors.New("This link names an application that does not exist.")
	}
	if conn == "" {
		conn = p.svc.DefaultConnection()
	}
	if _, ok := p.svc.Connection(conn); !ok || conn == "" {
		return templates.PageData{}, errors.New("This link names a connection that does not exist.")
	}
	data := templates.PageData{Title: "Forgot Your Password?", FormAction: "forgot", ClientID: clientID, Connection: conn}
	if client != nil {
		data.AppName, data.BackURL = client.Name, client.ResultURL
	}
	return data, nil
}

// forgotSubmit asks for a reset and always says "Check Your Email" for a well-formed
// address, as the request endpoint always answers 200.
func (p *Public) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxRequestBody, forgotFields)
	if err != nil {
		p.badForm(w, err)
		return
	}
	form, err := p.forgotForm(fields["client_id"], fields["connection"])
	if err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Please Try Again", err.Error(), "", "")
		return
	}
	if !p.csrf.check(r, fields["_csrf"]) {
		p.renderMessage(w, http.StatusForbidden, "Please Try Again",
			"Your session expired or the form was sent from another site. Reload the page and try again.", "", "")
		return
	}
	err = p.svc.RequestReset(r.Context(), reset.Request{
		ClientID: fields["client_id"], Email: fields["email"], Connection: form.Connection,
		IP: p.clientIP(r), Language: r.Header.Get("Accept-Language"),
	})
	var re *reset.RequestError
	switch {
	case errors.As(err, &re):
		form.CSRF, form.Email, form.Error = p.csrf.token(w, r), fields["email"], forgotProblem(re)
		p.render(w, http.StatusBadRequest, templates.PageForgot, form)
		return
	case err != nil:
		p.renderMessage(w, http.StatusServiceUnavailable, "Please Try Again",
			"We had a problem sending the email, please try again later.", "", "")
		return
	}
	again := "forgot?" + url.Values{"client_id": {fields["client_id"]}, "connection": {form.Connection}}.Encode()
	p.renderMessage(w, http.StatusOK, "Check Your Email",
		"Please check the email address "+fields["email"]+" for instructions to reset your password.", again, "Resend email")
}

// forgotProblem words a refused address for a person.
func forgotProblem(re *reset.RequestError) string {
	if re.Description == "Missing required parameter: email" {
		return "Please enter an email address."
	}
	return "Please enter a valid email address."
}
