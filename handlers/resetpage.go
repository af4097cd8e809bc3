package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// resetFields are Auth0's /lo/reset form fields, ref (ours, see refProblem) and
// password-policy, which pages written for Auth0 post (its sample custom page
// lists it among the form's fields) and which is ignored: the policy is the
// ticket's connection's, never the client's word.
var resetFields = fieldSpec{allowed: []string{"_csrf", "ticket", "ref", "email", "newPassword", "confirmNewPassword", "password-policy", "ui_locales"}}

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
	if r.URL.Query().Has("ticket") {
		p.takeTicketFromLink(w, r, r.URL.Query().Get("ticket"))
		return
	}
	token := p.ticketFromCookie(r)
	if token == "" {
		lang := p.lang(r, "", "")
		invalid, _ := lang.Problem(reset.ErrTicketInvalid.Code)
		p.renderMessage(w, http.StatusBadRequest, lang, invalid.Title, lang.T("reset.reopen"))
		return
	}
	info, err := p.svc.OpenTicket(r.Context(), token)
	if err != nil {
		p.clearTicketCookie(w)
		p.pageProblem(w, r, token, "", faultOf(p.log, err))
		return
	}
	p.renderResetForm(w, r, http.StatusOK, token, info, p.lang(r, "", info.Language), "", nil)
}

func (p *Public) takeTicketFromLink(w http.ResponseWriter, r *http.Request, token string) {
	info, err := p.svc.OpenTicket(r.Context(), token)
	if err != nil {
		p.pageProblem(w, r, token, "", faultOf(p.log, err))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.ticketCookieName(), Value: token, Path: p.resetPath, MaxAge: int(ticketCookieLife / time.Second),
		HttpOnly: true, Secure: p.csrf.secure, SameSite: http.SameSiteStrictMode,
	})
	lang := p.lang(r, "", info.Language)
	form := "reset" // the form, without the ticket; a ui_locales of the link goes on
	if ui := r.URL.Query().Get("ui_locales"); ui != "" {
		form += "?" + url.Values{"ui_locales": {ui}}.Encode()
	}
	p.render(w, http.StatusOK, templates.PageMessage, templates.PageData{
		Lang: lang, Title: lang.T("reset.title"), AppName: info.AppName, RefreshURL: form,
		Message: lang.T("reset.opening"), LinkURL: form, LinkText: lang.T("page.continue"),
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

// renderResetForm shows the form for the ticket token in lang. After a refused submit,
// rules says which of the policy's rules the password met (see markedRules);
// before one, it is nil and the rules are listed unmarked.
func (p *Public) renderResetForm(w http.ResponseWriter, r *http.Request, status int, token string, info *reset.TicketInfo, lang *templates.Lang, problem string, rules []templates.RuleLine) {
	if rules == nil {
		rules = info.Rules
	}
	csrf := p.csrf.token(w, r)
	if p.renderCustomForm(w, r, status, resetFormState{token: token, csrf: csrf, problem: problem, info: info, rules: rules}) {
		return
	}
	live, more := splitRules(rules)
	data := templates.PageData{
		Lang: lang, Title: lang.T("reset.title"), AppName: info.AppName, FormAction: "reset",
		CSRF: csrf, Error: problem, Email: info.Email,
		Rules: live, MoreRules: more, Ref: info.Ref,
	}
	p.render(w, status, templates.PageReset, data, origin(info.ResultURL))
}

// splitRules separates the rules the browser checks as the user types, listed
// under "Your password must contain:", from those only the server checks.
func splitRules(lines []templates.RuleLine) (live, more []templates.RuleLine) {
	for _, l := range lines {
		if l.Live {
			live = append(live, l)
		} else {
			more = append(more, l)
		}
	}
	return live, more
}

// resetSubmit sets the new password. The ticket comes from the cookie, or from a
// ticket field (Auth0's /lo/reset form contract). A script's submit is answered
// in JSON (see wantsJSON), a form's with pages.
func (p *Public) resetSubmit(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		p.resetSubmitXHR(w, r)
		return
	}
	fields, err := readFields(r, maxFormBody, resetFields)
	if err != nil {
		p.badForm(w, r, err)
		return
	}
	token := p.submittedTicket(r, fields)
	if token == "" && fields["ref"] != "" {
		// The form stayed open longer than the ticket's cookie. Nothing can
		// change without the ticket, so the CSRF token (whose cookie may be gone
		// too) does not matter: the page only says why the form is dead.
		p.refProblem(w, r, fields["ref"], fields["ui_locales"])
		return
	}
	if !p.csrf.check(r, fields["_csrf"]) {
		lang := p.lang(r, fields["ui_locales"], "")
		p.renderMessage(w, http.StatusForbidden, lang, lang.T("page.try_again"), lang.T("page.session_expired_link"))
		return
	}
	done, err := p.completeReset(r, token, fields)
	if err != nil {
		p.resetFailed(w, r, token, fields["ui_locales"], err)
		return
	}
	p.clearTicketCookie(w)
	if done.RedirectURL != "" {
		setPageHeaders(w.Header())
		http.Redirect(w, r, done.RedirectURL, http.StatusSeeOther)
		return
	}
	lang := p.lang(r, fields["ui_locales"], done.Language)
	p.render(w, http.StatusOK, templates.PageMessage, templates.PageData{
		Lang: lang, Title: lang.T("reset.done_title"), AppName: done.AppName, Message: lang.T("reset.done_text"),
	})
}

// submittedTicket is the ticket of a submit: its ticket field, else its cookie.
func (p *Public) submittedTicket(r *http.Request, fields map[string]string) string {
	if token := fields["ticket"]; token != "" {
		return token
	}
	return p.ticketFromCookie(r)
}

// completeReset sets the submitted password with the ticket token.
func (p *Public) completeReset(r *http.Request, token string, fields map[string]string) (*reset.Completion, error) {
	return p.svc.CompleteReset(r.Context(), reset.ResetForm{
		Ticket: token, Password: fields["newPassword"], Confirm: fields["confirmNewPassword"], IP: p.clientIP(r),
		UILocales: fields["ui_locales"], AcceptLanguage: r.Header.Get("Accept-Language"),
	})
}

// resetFailed shows the form again for mistakes the user can fix, with the
// rules marked after a policy's refusal, and an error page for a ticket that
// cannot be used.
func (p *Public) resetFailed(w http.ResponseWriter, r *http.Request, token, uiLocales string, err error) {
	f := faultOf(p.log, err)
	noteFault(w, f)
	setRetryHeaders(w.Header(), f) // on the form shown again too: the app may be down
	var rules []templates.RuleLine
	switch f.Kind {
	case fault.RateLimited:
		p.pageProblem(w, r, token, uiLocales, f)
		return
	case fault.Invalid, fault.Refused, fault.Unavailable:
		if f.Code == reset.ErrUnavailable.Code {
			p.pageProblem(w, r, token, uiLocales, f)
			return
		}
		rules, _ = f.Detail.([]templates.RuleLine)
	default:
		p.clearTicketCookie(w)
		p.pageProblem(w, r, token, uiLocales, f)
		return
	}
	info, openErr := p.svc.OpenTicket(r.Context(), token)
	if openErr != nil {
		p.pageProblem(w, r, token, uiLocales, faultOf(p.log, openErr))
		return
	}
	lang := p.lang(r, uiLocales, info.Language)
	p.renderResetForm(w, r, statusOf(f.Kind), token, info, lang, formProblem(lang, f), rules)
}

// refProblem answers a form sent without its ticket, after the ticket's cookie
// expired: the ref field names the ticket without being one (reset.TicketRef),
// so the page can still say whether the link expired or was used, or that only
// the form's session ran out and the link still works.
func (p *Public) refProblem(w http.ResponseWriter, r *http.Request, ref, uiLocales string) {
	info, err := p.svc.LookupRef(r.Context(), ref)
	if err == nil {
		lang := p.lang(r, uiLocales, info.Language)
		p.render(w, http.StatusBadRequest, templates.PageMessage, templates.PageData{
			Lang: lang, Title: lang.T("page.try_again"), AppName: info.AppName, Message: lang.T("reset.session_expired"),
		})
		return
	}
	f := faultOf(p.log, err)
	noteFault(w, f)
	forgot, appName, known := "forgot", "", ""
	if info != nil {
		forgot += "?" + url.Values{"client_id": {info.ClientID}, "connection": {info.Connection}}.Encode()
		appName, known = info.AppName, info.Language
	}
	p.renderProblem(w, p.lang(r, uiLocales, known), f, appName, forgot)
}

// pageProblem shows the page for an error of the reset page: Auth0's page for an
// unusable ticket, with a way to ask for a new link for the same application, or
// the page for a limit or an outage.
func (p *Public) pageProblem(w http.ResponseWriter, r *http.Request, token, uiLocales string, f *fault.Error) {
	forgot := "forgot"
	if conn, client, ok := p.svc.TicketContext(r.Context(), token); ok {
		forgot += "?" + url.Values{"client_id": {client}, "connection": {conn}}.Encode()
	}
	p.renderProblem(w, p.lang(r, uiLocales, ""), f, "", forgot)
}

// renderProblem renders f's page text with its status; a ticket's error offers
// a new link (forgot).
func (p *Public) renderProblem(w http.ResponseWriter, lang *templates.Lang, f *fault.Error, appName, forgot string) {
	noteFault(w, f)
	text, ok := lang.Problem(f.Code)
	if !ok {
		text, _ = lang.Problem(reset.ErrUnavailable.Code)
	}
	data := templates.PageData{Lang: lang, Title: text.Title, AppName: appName, Message: text.Text}
	if strings.HasPrefix(f.Code, "ticket_") {
		data.LinkURL, data.LinkText = forgot, lang.T("page.new_link")
	}
	setRetryHeaders(w.Header(), f)
	p.render(w, statusOf(f.Kind), templates.PageMessage, data)
}

// renderMessage renders a page that says text under title, in lang.
func (p *Public) renderMessage(w http.ResponseWriter, status int, lang *templates.Lang, title, text string) {
	p.render(w, status, templates.PageMessage, templates.PageData{Lang: lang, Title: title, Message: text})
}

// badForm answers a form body that could not be read at all. Why it could not
// is the reader's (English, for the developer who sent it); the sentence
// around it is the page's language.
func (p *Public) badForm(w http.ResponseWriter, r *http.Request, err error) {
	lang := p.lang(r, "", "")
	status, text := http.StatusBadRequest, lang.T("page.form_unreadable")
	if f, ok := fault.As(err); ok {
		status, text = statusOf(f.Kind), text+" ("+f.Message+")"
	}
	p.renderMessage(w, status, lang, lang.T("page.try_again"), text)
}

// formProblem words a refused submit of the reset form in lang: the flow's mistakes and the policy's refusals by their code; the
// app's own refusal (password_refused) is the app's words.
func formProblem(lang *templates.Lang, f *fault.Error) string {
	if lang.Has("form." + f.Code) {
		return lang.T("form." + f.Code)
	}
	return f.Message
}

// externalPath returns the path under which the public URL serves route.
func externalPath(public *url.URL, route string) string {
	return strings.TrimSuffix(public.Path, "/") + route
}
