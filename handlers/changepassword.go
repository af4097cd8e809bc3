package handlers

import (
	"io"
	"net/http"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

// ChangePasswordAnswer is Auth0's answer to every accepted request, whether or not
// the email belongs to a user.
const ChangePasswordAnswer = "We've just sent you an email to reset your password."

// changePasswordFields are Auth0's, and what auth0-js and Lock add: a state
// (accepted and ignored, as Auth0 does for a database connection) and the
// answer to a captcha (there never is one to answer: see challenge).
var changePasswordFields = fieldSpec{
	allowed: []string{"client_id", "email", "connection", "organization", "state", "captcha", "ui_locales"},
	refused: map[string]string{
		"password": "password is not allowed: setting a password by email confirmation was removed as vulnerable; " +
			"send client_id, email and connection, and the user chooses the new password through the emailed link",
	},
}

// changePassword is Auth0's POST /dbconnections/change_password. It answers once the
// request is stored; the lookup, the ticket and the email happen behind it, so the
// answer is the same for every address.
func (p *Public) changePassword(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxRequestBody, changePasswordFields)
	if !p.originAllowed(w, r, p.clientAllows(fields["client_id"])) {
		// Before anything is counted or stored: the page's origin may not ask.
		writeAuthError(w, p.log, errOriginRefused)
		return
	}
	if err != nil {
		// Every answer carries the requester's limits, a refusal too.
		setRateLimitHeaders(w.Header(), p.svc.RequestLimits(r.Context(), p.clientIP(r)))
		p.writeRequestError(w, err)
		return
	}
	limit, err := p.svc.RequestReset(r.Context(), reset.Request{
		ClientID: fields["client_id"], Email: fields["email"], Connection: fields["connection"],
		Organization: fields["organization"], IP: p.clientIP(r),
		Language: r.Header.Get("Accept-Language"), UILocales: uiLocales(r, fields),
	})
	setRateLimitHeaders(w.Header(), limit)
	if err != nil {
		p.writeRequestError(w, err)
		return
	}
	// Auth0's server labels this plain sentence text/html.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, ChangePasswordAnswer) //nolint:errcheck // the status is already sent
}
