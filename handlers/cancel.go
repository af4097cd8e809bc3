package handlers

import (
	"net/http"

	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// PathCancel is the reset email's "this wasn't me" link.
const PathCancel = "/lo/cancel"

var cancelFields = fieldSpec{allowed: []string{"_csrf", "id", "ui_locales"}}

// cancelPage asks the user to confirm. Like the reset link, a GET changes nothing:
// a mail scanner opening the link must not cancel a reset the user wants.
func (p *Public) cancelPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if err := p.svc.CheckCancel(r.Context(), id); err != nil {
		p.pageProblem(w, r, "", "", faultOf(p.log, err))
		return
	}
	lang := p.lang(r, "", "")
	p.render(w, http.StatusOK, templates.PageCancel, templates.PageData{
		Lang: lang, Title: lang.T("cancel.title"), FormAction: "cancel", CSRF: p.csrf.token(w, r), CancelID: id,
		Message: lang.T("cancel.text"),
	})
}

// cancelSubmit cancels the ticket.
func (p *Public) cancelSubmit(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxRequestBody, cancelFields)
	if err != nil {
		p.badForm(w, r, err)
		return
	}
	lang := p.lang(r, fields["ui_locales"], "")
	if !p.csrf.check(r, fields["_csrf"]) {
		p.renderMessage(w, http.StatusForbidden, lang, lang.T("page.try_again"), lang.T("page.session_expired_link"))
		return
	}
	if err := p.svc.CancelTicket(r.Context(), fields["id"], p.clientIP(r)); err != nil {
		p.pageProblem(w, r, "", fields["ui_locales"], faultOf(p.log, err))
		return
	}
	p.renderMessage(w, http.StatusOK, lang, lang.T("cancel.done_title"), lang.T("cancel.done_text"))
}
