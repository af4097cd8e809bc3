package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/policy"
	"github.com/caddy-password-reset/caddy-password-reset/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

var resetFields = fieldSpec{allowed: []string{"_csrf", "ticket", "email", "newPassword", "confirmNewPassword"}}

// ticketCookieLife bounds how long the form can be used after the link was opened;
// the link itself keeps working until the ticket expires.
const ticketCookieLife = 30 * time.Minute

// resetPage serves the reset link and the form. It consumes nothing: mail scanners
// open links, and GET and HEAD must leave the ticket for the user.
//
// The link's ticket does not stay in the URL (as Django does): a valid ticket moves
// into a short-lived HttpOnly, SameSite=Strict cookie bound to the reset path, and
// the page moves on to the same path without the query, so the ticket is not left
// in the history, in later requests' logs or in a Referer. The move is a meta
// refresh rather than an HTTP redirect: a redirect would still belong to the
// navigation that came from the mail client, another site, and the browser would
// not send a SameSite=Strict cookie with it.
func (p *Public) resetPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		p.takeTicketFromLink(w, r, r.URL.Query().Get("ticket"))
		return
	}
	token := p.ticketFromCookie(r)
	if token == "" {
		p.renderMessage(w, http.StatusBadRequest, reset.ErrTicketInvalid.Title,
			"Open the link from your email again to choose a new password.", "", "")
		return
	}
	info, err := p.svc.OpenTicket(r.Context(), token)
	if err != nil {
		p.clearTicketCookie(w)
		p.ticketProblem(w, r, token, err)
		return
	}
	p.renderResetForm(w, r, http.StatusOK, info, "")
}

func (p *Public) takeTicketFromLink(w http.ResponseWriter, r *http.Request, token string) {
	info, err := p.svc.OpenTicket(r.Context(), token)
	if err != nil {
		p.ticketProblem(w, r, token, err)
		return
	}
	life := min(ticketCookieLife, time.Until(info.ExpiresAt))
	http.SetCookie(w, &http.Cookie{
		Name: p.ticketCookieName(), Value: token, Path: p.resetPath, MaxAge: max(int(life.Seconds()), 1),
		HttpOnly: true, Secure: p.csrf.secure, SameSite: http.SameSiteStrictMode,
	})
	p.render(w, http.StatusOK, templates.PageMessage, templates.PageData{
		Title: "Change Your Password", AppName: info.AppName, RefreshURL: "reset",
		Message: "Opening the form to choose a new password…", LinkURL: "reset", LinkText: "Continue",
	})
}

func (p *Public) ticketCookieName() string {
	if p.csrf.secure {
		return "__Secure-pwreset_ticket"
	}
	return "pwreset_ticket"
}

func (p *Public) ticketFromCookie(r *http.Request) string {
	ck, err := r.Cookie(p.ticketCookieName())
	if err != nil {
		return ""
	}
	return ck.Value
}

func (p *Public) clearTicketCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: p.ticketCookieName(), Value: "", Path: p.resetPath, MaxAge: -1,
		HttpOnly: true, Secure: p.csrf.secure, SameSite: http.SameSiteStrictMode})
}

func (p *Public) renderResetForm(w http.ResponseWriter, r *http.Request, status int, info *reset.TicketInfo, problem string) {
	data := templates.PageData{
		Title: "Change Your Password", AppName: info.AppName, FormAction: "reset",
		CSRF: p.csrf.token(w, r), Error: problem, Email: info.Email, Rules: ruleLines(info.Policy),
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

// resetSubmit sets the new password. The ticket comes from the cookie, or from a
// ticket field (Auth0's /lo/reset form contract).
func (p *Public) resetSubmit(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxFormBody, resetFields)
	if err != nil {
		p.badForm(w, err)
		return
	}
	token := fields["ticket"]
	if token == "" {
		token = p.ticketFromCookie(r)
	}
	if !p.csrf.check(r, fields["_csrf"]) {
		p.renderMessage(w, http.StatusForbidden, "Please Try Again",
			"Your session expired or the form was sent from another site. Open the link from your email again.", "", "")
		return
	}
	done, err := p.svc.CompleteReset(r.Context(), reset.ResetForm{
		Ticket: token, Password: fields["newPassword"], Confirm: fields["confirmNewPassword"], IP: p.clientIP(r),
	})
	if err != nil {
		p.resetFailed(w, r, token, err)
		return
	}
	p.clearTicketCookie(w)
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
		refused   *reset.AppRefusedError
		limited   *reset.RateLimitError
	)
	status, problem := 0, ""
	switch {
	case errors.As(err, &limited):
		setRateLimitHeaders(w.Header(), limited.Decision)
		p.renderMessage(w, http.StatusTooManyRequests, "Please Try Again",
			"Too many attempts. Wait a minute, then open the link from your email again.", "", "")
		return
	case errors.As(err, &formErr):
		status, problem = http.StatusBadRequest, formErr.Message
	case errors.As(err, &policyErr):
		status, problem = http.StatusBadRequest, policyErr.Message+"."
	case errors.As(err, &refused):
		// The app's own rules refused the password: the user's input, not an
		// outage (monitoring counts 5xx as one).
		status, problem = http.StatusBadRequest, refused.Message
	case errors.As(err, &tryAgain):
		status, problem = http.StatusServiceUnavailable, tryAgain.Message
	default:
		p.clearTicketCookie(w)
		p.ticketProblem(w, r, token, err)
		return
	}
	info, openErr := p.svc.OpenTicket(r.Context(), token)
	if openErr != nil {
		p.ticketProblem(w, r, token, openErr)
		return
	}
	p.renderResetForm(w, r, status, info, problem)
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

// externalPath returns the path under which the public URL serves route.
func externalPath(public *url.URL, route string) string {
	return strings.TrimSuffix(public.Path, "/") + route
}
