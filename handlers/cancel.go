package handlers

import (
	"net/http"

	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// PathCancel is the reset email's "this wasn't me" link.
const PathCancel = "/lo/cancel"

var cancelFields = fieldSpec{allowed: []string{"_csrf", "id"}}

// cancelPage asks the user to confirm. Like the reset link, a GET changes nothing:
// a mail scanner opening the link must not cancel a reset the user wants.
func (p *Public) cancelPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if err := p.svc.CheckCancel(r.Context(), id); err != nil {
		p.pageProblem(w, r, "", faultOf(p.log, err))
		return
	}
	p.render(w, http.StatusOK, templates.PageCancel, templates.PageData{
		Title: "Cancel This Password Reset?", FormAction: "cancel", CSRF: p.csrf.token(w, r), CancelID: id,
		Message: "Someone asked for a link to reset your password. If it was not you, cancel the link so that " +
			"nobody can use it. Your password does not change.",
	})
}

// cancelSubmit cancels the ticket.
func (p *Public) cancelSubmit(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxRequestBody, cancelFields)
	if err != nil {
		p.badForm(w, err)
		return
	}
	if !p.csrf.check(r, fields["_csrf"]) {
		p.renderMessage(w, http.StatusForbidden, "Please Try Again",
			"Your session expired or the form was sent from another site. Open the link from your email again.", "", "")
		return
	}
	if err := p.svc.CancelTicket(r.Context(), fields["id"], p.clientIP(r)); err != nil {
		p.pageProblem(w, r, "", faultOf(p.log, err))
		return
	}
	p.renderMessage(w, http.StatusOK, "Link Cancelled",
		"The link can no longer be used and your password has not changed. If you keep getting these emails, "+
			"tell the site's support.", "", "")
}
