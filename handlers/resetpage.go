package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

var resetFields = fieldSpec{allowed: []string{"_csrf", "ticket", "ref", "email", "newPassword", "confirmNewPassword"}}

// ticketCookieLife bounds how long the form can be used after the link was opened;
// the link itself keeps working until the ticket expires. The cookie lives this
// long even when the ticket expires sooner: the server checks the expiry, and a
// form sent after it must still carry the ticket to be told "Link Expired"
// rather than "Invalid Link". A form sent after the cookie is gone names its
// ticket by the ref field (see refProblem).
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
	p.renderResetForm(w, r, http.StatusOK, token, info, "", nil)
}

func (p *Public) takeTicketFromLink(w http.ResponseWriter, r *http.Request, token string) {
	info, err := p.svc.OpenTicket(r.Context(), token)
	if err != nil {
		p.ticketProblem(w, r, token, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.ticketCookieName(), Value: token, Path: p.resetPath, MaxAge: int(ticketCookieLife / time.Second),
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

// renderResetForm shows the form for the ticket token. After a refused submit,
// rules says which of the policy's rules the password met (see markedRules);
// before one, it is nil and the rules are listed unmarked.
func (p *Public) renderResetForm(w http.ResponseWriter, r *http.Request, status int, token string, info *reset.TicketInfo, problem string, rules []templates.RuleLine) {
	if rules == nil {
		rules = ruleLines(info.Policy)
	}
	live, more := splitRules(rules)
	data := templates.PageData{
		Title: "Change Your Password", AppName: info.AppName, FormAction: "reset",
		CSRF: p.csrf.token(w, r), Error: problem, Email: info.Email,
		Rules: live, MoreRules: more, Ref: reset.TicketRef(token),
	}
	p.render(w, status, templates.PageReset, data, origin(info.ResultURL))
}

// ruleLines lists the policy's rules, unmarked. The admin dashboard lists the
// same lines.
func ruleLines(pol policy.Policy) []templates.RuleLine { return linesOf(pol.Rules()) }

// linesOf words rules for a page's list, with their states when they come from
// a check.
func linesOf(rules []policy.Rule) []templates.RuleLine {
	var lines []templates.RuleLine
	for _, rule := range rules {
		line := templates.RuleLine{Code: rule.Code, Text: rule.ListText(), Count: ruleCount(rule), State: ruleState(rule)}
		line.Items = linesOf(rule.Items)
		lines = append(lines, line)
	}
	return lines
}

// ruleCount is the number the page's script needs to check rule: the first
// format argument of the rules it checks (a length, how many classes, how many
// identical characters); the minimum of 1 of the non-empty rule has none.
func ruleCount(rule policy.Rule) int {
	if rule.Code == policy.CodeNonEmpty {
		return 1
	}
	if !rule.Live() || len(rule.Format) == 0 {
		return 0
	}
	n, _ := rule.Format[0].(int)
	return n
}

func ruleState(rule policy.Rule) string {
	switch {
	case !rule.Checked():
		return ""
	case rule.Verified:
		return templates.RuleMet
	}
	return templates.RuleUnmet
}

// splitRules separates the rules the browser checks as the user types, listed
// under "Your password must contain:", from those only the server checks.
func splitRules(lines []templates.RuleLine) (live, more []templates.RuleLine) {
	for _, l := range lines {
		if (policy.Rule{Code: l.Code}).Live() {
			live = append(live, l)
		} else {
			more = append(more, l)
		}
	}
	return live, more
}

// markedRules marks the policy's rules for a refused password. Evaluate decides
// exactly the rules that depend on the password alone; the strength score, the
// personal data and the history need the user's profile and previous
// passwords, which the reset service checked, so their states come from its
// refusal: a rule it did not reach is left unmarked.
func markedRules(pol policy.Policy, password string, user policy.UserInfo, refusal error) []templates.RuleLine {
	if password == "" {
		return ruleLines(pol) // nothing was typed: nothing to mark
	}
	lines := linesOf(pol.Evaluate(password, user))
	decided := map[string]string{policy.CodeStrengthScore: "", policy.CodeNoPersonalInfo: "", policy.CodeNotReused: ""}
	var pe *policy.Error
	if errors.As(refusal, &pe) {
		switch pe.Name {
		case policy.NameStrength:
			for _, r := range pe.Description.Rules {
				if r.Code == policy.CodeStrengthScore {
					decided[r.Code] = ruleState(r)
				}
			}
		case policy.NameNoUserInfo:
			decided[policy.CodeNoPersonalInfo] = templates.RuleUnmet
		case policy.NameHistory:
			// The history is checked after every other rule passed.
			decided[policy.CodeStrengthScore], decided[policy.CodeNoPersonalInfo] = templates.RuleMet, templates.RuleMet
			decided[policy.CodeNotReused] = templates.RuleUnmet
		}
	}
	for i, l := range lines {
		if state, ok := decided[l.Code]; ok {
			lines[i].State = state
		}
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
	if token == "" && fields["ref"] != "" {
		// The form stayed open longer than the ticket's cookie. Nothing can
		// change without the ticket, so the CSRF token (whose cookie may be gone
		// too) does not matter: the page only says why the form is dead.
		p.refProblem(w, r, fields["ref"])
		return
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
		p.resetFailed(w, r, token, fields["newPassword"], err)
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
func (p *Public) resetFailed(w http.ResponseWriter, r *http.Request, token, password string, err error) {
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
	rules := markedRules(info.Policy, password, policy.UserInfo{Email: info.Email}, err)
	p.renderResetForm(w, r, status, token, info, problem, rules)
}

// refProblem answers a form sent without its ticket, after the ticket's cookie
// expired: the ref field names the ticket without being one (reset.TicketRef),
// so the page can still say whether the link expired or was used, or that only
// the form's session ran out and the link still works.
func (p *Public) refProblem(w http.ResponseWriter, r *http.Request, ref string) {
	info, err := p.svc.LookupRef(r.Context(), ref)
	var te *reset.TicketError
	switch {
	case err == nil:
		p.render(w, http.StatusBadRequest, templates.PageMessage, templates.PageData{
			Title: "Please Try Again", AppName: info.AppName,
			Message: "Your session expired: open the link from your email again to choose a new password.",
		})
	case !errors.As(err, &te):
		p.renderMessage(w, http.StatusServiceUnavailable, "Please Try Again",
			"Something went wrong. Please try again in a few minutes.", "", "")
	case info == nil:
		p.renderMessage(w, http.StatusNotFound, te.Title, te.Text, "forgot", "Send a new link")
	default:
		forgot := "forgot?" + url.Values{"client_id": {info.ClientID}, "connection": {info.Connection}}.Encode()
		p.render(w, http.StatusGone, templates.PageMessage, templates.PageData{
			Title: te.Title, AppName: info.AppName, Message: te.Text, LinkURL: forgot, LinkText: "Send a new link",
		})
	}
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
	// A link that never existed is 404; one that existed and can no longer be
	// used (expired, used, replaced, cancelled, being used) is 410.
	status := http.StatusGone
	if te == reset.ErrTicketInvalid {
		status = http.StatusNotFound
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
