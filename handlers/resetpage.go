package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/caddy-password-reset/caddy-password-reset/policy"
	"github.com/caddy-password-reset/caddy-password-reset/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

var resetFields = fieldSpec{allowed: []string{"_csrf", "ticket", "email", "newPassword", "confirmNewPassword"}}

// resetPage shows the form for a usable ticket. It consumes nothing: mail scanners
// open links, and GET and HEAD must leave the ticket for the user.
func (p *Public) resetPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("ticket")
	info, err := p.svc.OpenTicket(r.Context(), token)
	if err != nil {
		p.ticketProblem(w, r, token, err)
		return
	}
	p.renderResetForm(w, r, http.StatusOK, token, info, "")
}

func (p *Public) renderResetForm(w http.ResponseWriter, r *http.Request, status int, token string, info *reset.TicketInfo, problem string) {
	data := templates.PageData{
		Title: "Change Your Password", AppName: info.AppName, FormAction: "reset",
		CSRF: p.csrf.token(w, r), Error: problem, Email: info.Email, Ticket: token,
		Rules: ruleLines(info.Policy),
	}
	p.render(w, status, templates.PageReset, data, origin(info.ResultURL))
}

func ruleLines(pol policy.Policy) []templates.RuleLine {
	var lines []templates.RuleLine
	for _, rule := range pol.Rules() {
		line := templates.RuleLine{Text: rule.Text()}
		for _, item := range rule.Items {
			line.Items = append(line.Items, item.Text())
		}
		lines = append(lines, line)
	}
	return lines
}

// resetSubmit sets the new password.
func (p *Public) resetSubmit(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxFormBody, resetFields)
	if err != nil {
		p.badForm(w, err)
		return
	}
	token := fields["ticket"]
	if !p.csrf.check(r, fields["_csrf"]) {
		p.renderMessage(w, http.StatusForbidden, "Please Try Again",
			"Your session expired or the form was sent from another site. Open the link from your email again.", "", "")
		return
	}
	done, err := p.svc.CompleteReset(r.Context(), token, fields["newPassword"], fields["confirmNewPassword"])
	if err != nil {
		p.resetFailed(w, r, token, err)
		return
	}
	if done.RedirectURL != "" {
		setPageHeaders(w.Header())
		http.Redirect(w, r, done.RedirectURL, http.StatusSeeOther)
		return
	}
	p.render(w, http.StatusOK, templates.PageMessage, templates.PageData{
		Title: "Password Changed!", AppName: done.AppName,
		Message: "Your password has been changed successfully.",
	})
}

// resetFailed shows the form again for mistakes the user can fix, and an error
// page for a ticket that cannot be used.
func (p *Public) resetFailed(w http.ResponseWriter, r *http.Request, token string, err error) {
	var (
		formErr   *reset.FormError
		policyErr *policy.Error
		tryAgain  *reset.TryAgainError
	)
	status, problem := 0, ""
	switch {
	case errors.As(err, &formErr):
		status, problem = http.StatusBadRequest, formErr.Message
	case errors.As(err, &policyErr):
		status, problem = http.StatusBadRequest, policyErr.Message+"."
	case errors.As(err, &tryAgain):
		status, problem = http.StatusServiceUnavailable, tryAgain.Message
	default:
		p.ticketProblem(w, r, token, err)
		return
	}
	info, openErr := p.svc.OpenTicket(r.Context(), token)
	if openErr != nil {
		p.ticketProblem(w, r, token, openErr)
		return
	}
	p.renderResetForm(w, r, status, token, info, problem)
}

// ticketProblem shows Auth0's page for an unusable ticket, with a way to ask for a
// new link for the same application.
func (p *Public) ticketProblem(w http.ResponseWriter, r *http.Request, token string, err error) {
	var te *reset.TicketError
	if !errors.As(err, &te) {
		p.renderMessage(w, http.StatusServiceUnavailable, "Please Try Again",
			"Something went wrong. Please try again in a few minutes.", "", "")
		return
	}
	forgot := "forgot"
	if conn, client, ok := p.svc.TicketContext(r.Context(), token); ok {
		forgot += "?" + url.Values{"client_id": {client}, "connection": {conn}}.Encode()
	}
	status := http.StatusNotFound
	if te == reset.ErrTicketExpired || te == reset.ErrTicketUsed || te == reset.ErrTicketSuperseded {
		status = http.StatusGone
	}
	p.renderMessage(w, status, te.Title, te.Text, forgot, "Send a new link")
}

func (p *Public) renderMessage(w http.ResponseWriter, status int, title, text, link, linkText string) {
	p.render(w, status, templates.PageMessage, templates.PageData{
		Title: title, Message: text, LinkURL: link, LinkText: linkText,
	})
}

// badForm answers a form body that could not be read at all.
func (p *Public) badForm(w http.ResponseWriter, err error) {
	var re *reset.RequestError
	status, text := http.StatusBadRequest, "The form could not be read."
	if errors.As(err, &re) {
		status, text = re.Status, "The form could not be read: "+re.Description+"."
	}
	p.renderMessage(w, status, "Please Try Again", text, "", "")
}
