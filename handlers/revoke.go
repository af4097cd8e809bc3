package handlers

import (
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// PathRevoke takes the app's signed revoke_tickets call (hook protocol v2): the
// user's password changed inside the app, so the user's open reset links must
// stop working.
const PathRevoke = "/lo/hooks/revoke"

var revokeFields = fieldSpec{allowed: []string{"connection", "user_id"}}

// InboundVerifier verifies the app's calls to the plugin, signed with a
// connection's hook secret, with replay protection (a connection.Upstream).
type InboundVerifier interface {
	VerifyInbound(h http.Header, body []byte, wantHook string) (*hook.Call, error)
}

// revoke verifies the app's call with the named connection's hook secret (and
// its replay memory), cancels the user's open links and answers 204, signed.
// A call that does not verify gets 401 with no detail and no signature; a body
// that cannot be read for its connection gets 400 (413 when too large), before
// any signature check, since the connection picks the secret.
func (p *Public) revoke(w http.ResponseWriter, r *http.Request) {
	body, fields, err := readRevoke(r)
	if err != nil {
		p.writeRequestError(w, err)
		return
	}
	if err := p.svc.CheckConnection(fields["connection"]); err != nil {
		p.writeRequestError(w, err)
		return
	}
	inbound, ok := p.inbound[fields["connection"]]
	if !ok {
		p.writeRequestError(w, fault.New(fault.Invalid, "bad.connection", "connection %s takes no calls from the app", fields["connection"]))
		return
	}
	call, err := inbound.VerifyInbound(r.Header, body, hook.RevokeTickets)
	if err != nil {
		p.log.Warn("revoke_tickets call refused", slog.String("connection", fields["connection"]), slog.Any("error", err))
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	if err := p.svc.RevokeTickets(r.Context(), fields["connection"], fields["user_id"]); err != nil {
		p.answerRevokeError(w, call, err)
		return
	}
	call.Answer(w, http.StatusNoContent, nil)
}

// readRevoke reads the call's raw body (the signature covers it byte for byte)
// and its fields, as strictly as the public request endpoint reads its own.
func readRevoke(r *http.Request) ([]byte, map[string]string, error) {
	body, err := readBody(r, hook.MaxBodyBytes)
	if err != nil {
		return nil, nil, err
	}
	if !utf8.Valid(body) {
		return nil, nil, invalid("request body is not valid UTF-8")
	}
	fields, err := parseJSONObject(body)
	if err != nil {
		return nil, nil, err
	}
	return body, fields, revokeFields.check(fields)
}

// answerRevokeError answers a verified call that failed, signed, in Auth0's
// error shape.
func (p *Public) answerRevokeError(w http.ResponseWriter, call *hook.Call, err error) {
	f := faultOf(p.log, err)
	noteFault(w, f)
	setRetryHeaders(w.Header(), f)
	w.Header().Set("Cache-Control", "no-store")
	if err := call.AnswerJSON(w, statusOf(f.Kind), AuthError{Code: f.Code, Description: f.Message}); err != nil {
		p.log.Error("revoke answer", slog.Any("error", err))
	}
}
