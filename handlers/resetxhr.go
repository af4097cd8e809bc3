package handlers

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// The reset form's XHR mode: a page's own script that posts the form to
// /lo/reset (Auth0's Auth0ChangePassword widget, a custom reset page) reads
// Auth0's JSON answers instead of pages. This is the third wire shape of the
// package, beside errors.go's two; it is Auth0's private /lo/reset contract as
// auth0/auth0-custom-password-reset-hosted-page's README records it: 200 on
// success (the sample redirects to result_url when the body has one), 400 with
// the password policy's error body, 403 CsrfInvalidTokenError.

// wantsJSON reports whether a submit comes from a script rather than from the
// browser's own form post. Auth0's widget source is not public; the request
// forms found are these, each of which a plain form post never produces:
//
//   - X-Requested-With: XMLHttpRequest, which jQuery's $.ajax sends for a
//     same-origin request: Auth0's sample custom page
//     (auth0-custom-password-reset-hosted-page's password_reset.html) posts
//     the form with $.ajax, and Express's req.xhr is this header.
//   - A JSON body: custom pages that post with axios and an object send one;
//     an HTML form cannot.
//   - Accept naming application/json and not text/html (axios sends
//     "application/json, text/plain, */*"; a navigation asks for text/html).
//   - Sec-Fetch-Dest: empty, which browsers send with every fetch and
//     XMLHttpRequest and never with a form's navigation ("document"), so a
//     script is answered in JSON whatever library it uses.
func wantsJSON(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" || r.Header.Get("Sec-Fetch-Dest") == "empty" {
		return true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "application/json" {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// ResetError is a refused submit in XHR mode, in the shape of Auth0's /lo/reset
// errors. A password policy's refusal is written as reset.PolicyError instead, which
// is Auth0's body exactly (with description's rules and policy).
type ResetError struct {
	Name        string `json:"name"`
	Message     string `json:"message"`
	Code        string `json:"code"`
	Description string `json:"description,omitempty"`
	StatusCode  int    `json:"statusCode"`
	// ForgotURL is, for a link that cannot be used, where to ask for a new
	// one for the same application (the page's "Send a new link").
	ForgotURL string `json:"forgot_url,omitempty"`
}

// ResetDone is a successful submit in XHR mode. ResultURL is the 303's
// Location of HTML mode (the result URL with Auth0's success, message and
// email parameters); without a result URL there is none, and the page shows
// its own success message.
type ResetDone struct {
	Message   string `json:"message"`
	ResultURL string `json:"result_url,omitempty"`
}

// csrfInvalid is Auth0's answer to a form whose CSRF token does not match.
var csrfInvalid = ResetError{Name: "CsrfInvalidTokenError", Message: "Invalid CSRF token",
	Code: "invalid_csrf_token", StatusCode: http.StatusForbidden}

// resetErrorNames are the names of the errors other than the policy's (which
// carry Auth0's), by code. Auth0 documents no body for these: its /lo/reset
// answers a missing field or a mismatch with a 500, which would count a typing
// mistake as an outage. The messages of the used and expired links are New
// Universal Login's (auth0-users-used-ticket, auth0-users-expired-ticket).
var resetErrorNames = map[string]struct{ name, message string }{
	reset.ErrPasswordsDiffer.Code:     {"PasswordMismatchError", ""},
	reset.ErrPasswordMissing.Code:     {"PasswordMissingError", ""},
	reset.ErrConfirmationMissing.Code: {"PasswordMissingError", ""},
	"password_refused":                {"PasswordRefusedError", ""}, // the app's change_password hook said no
	reset.ErrTicketExpired.Code:       {"ExpiredTicketError", "This ticket was expired."},
	reset.ErrTicketUsed.Code:          {"UsedTicketError", "This ticket was already used."},
	reset.ErrTicketBusy.Code:          {"TicketBusyError", ""},
	reset.ErrTicketUnconfirmed.Code:   {"UnconfirmedPasswordError", ""},
	reset.ErrRateLimited.Code:         {"TooManyRequestsError", ""},
	"session_expired":                 {"SessionExpiredError", ""},
}

// resetErrorName is the name and message of f in XHR mode.
func resetErrorName(f *fault.Error) (name, message string) {
	if n, ok := resetErrorNames[f.Code]; ok {
		return n.name, orDefault(n.message, f.Message)
	}
	switch {
	case strings.HasPrefix(f.Code, "ticket_"):
		return "InvalidTicketError", f.Message
	case f.Kind == fault.Invalid || f.Kind == fault.TooLarge:
		return "InvalidRequestError", f.Message
	case f.Kind == fault.Unavailable:
		return "ServiceUnavailableError", f.Message
	}
	return "ServerError", "There was an error processing the password reset."
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// resetSubmitXHR is resetSubmit in XHR mode: the same steps, answered in JSON.
func (p *Public) resetSubmitXHR(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r, maxFormBody, resetFields)
	if err != nil {
		p.writeResetError(w, r, "", err)
		return
	}
	token := p.submittedTicket(r, fields)
	if token == "" && fields["ref"] != "" {
		p.refProblemXHR(w, r, fields["ref"])
		return
	}
	if !p.csrf.check(r, fields["_csrf"]) {
		writeJSON(w, http.StatusForbidden, csrfInvalid)
		return
	}
	done, err := p.completeReset(r, token, fields)
	if err != nil {
		p.writeResetError(w, r, token, err)
		return
	}
	p.clearTicketCookie(w)
	writeJSON(w, http.StatusOK, ResetDone{Message: reset.SuccessMessage, ResultURL: done.RedirectURL})
}

// writeResetError answers a refused submit: a policy's refusal with Auth0's
// body, anything else as a ResetError. As in HTML mode, a ticket that can no
// longer be used loses its cookie, and the errors that have one get
// Retry-After.
func (p *Public) writeResetError(w http.ResponseWriter, r *http.Request, token string, err error) {
	f := faultOf(p.log, err)
	noteFault(w, f)
	setRetryHeaders(w.Header(), f)
	var pe *reset.PolicyError
	if errors.As(err, &pe) {
		writeJSON(w, http.StatusBadRequest, pe)
		return
	}
	body := p.resetError(p.lang(r, "", ""), f)
	if strings.HasPrefix(f.Code, "ticket_") {
		p.clearTicketCookie(w)
		body.ForgotURL = p.forgotURL(p.svc.TicketContext(r.Context(), token))
	}
	writeJSON(w, body.StatusCode, body)
}

// resetError is f as a ResetError, with the page's text in lang as its
// description where the page has one (what to do next). Name and message are
// Auth0's, for scripts, and stay English.
func (p *Public) resetError(lang *templates.Lang, f *fault.Error) ResetError {
	name, message := resetErrorName(f)
	body := ResetError{Name: name, Message: message, Code: f.Code, StatusCode: statusOf(f.Kind)}
	if text, ok := lang.Problem(f.Code); ok {
		body.Description = text.Text
	}
	return body
}

// refProblemXHR is refProblem in XHR mode: a form sent after its ticket's
// cookie expired, which names the ticket by ref.
func (p *Public) refProblemXHR(w http.ResponseWriter, r *http.Request, ref string) {
	info, err := p.svc.LookupRef(r.Context(), ref)
	if err == nil {
		writeJSON(w, http.StatusBadRequest, ResetError{Name: "SessionExpiredError", Code: "session_expired",
			Message:    "Your session expired: open the link from your email again to choose a new password.",
			StatusCode: http.StatusBadRequest})
		return
	}
	f := faultOf(p.log, err)
	noteFault(w, f)
	setRetryHeaders(w.Header(), f)
	known := ""
	if info != nil {
		known = info.Language
	}
	body := p.resetError(p.lang(r, "", known), f)
	if info != nil {
		body.ForgotURL = p.forgotURL(info.Connection, info.ClientID, true)
	} else if strings.HasPrefix(f.Code, "ticket_") {
		body.ForgotURL = p.forgotURL("", "", false)
	}
	writeJSON(w, body.StatusCode, body)
}

// forgotURL is the path of the forgot page, for the application of a ticket
// when known.
func (p *Public) forgotURL(conn, clientID string, known bool) string {
	path := externalPath(p.svc.Site().PublicURL, PathForgot)
	if !known {
		return path
	}
	return path + "?" + url.Values{"client_id": {clientID}, "connection": {conn}}.Encode()
}
