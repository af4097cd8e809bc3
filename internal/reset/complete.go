package reset

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/history"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// TicketInfo is what the reset page shows about a usable ticket.
type TicketInfo struct {
	Email      string
	Connection string
	ClientID   string
	AppName    string
	// Rules are the connection's password rules, unmarked.
	Rules     []templates.RuleLine
	ExpiresAt time.Time
	// ResultURL is where the user goes after the reset ("" for a success page).
	ResultURL string
	// Ref names the ticket without being one (TicketRef).
	Ref string
	// Language is the ticket's language ("" for none; see tickets.Ticket).
	Language string
}

// OpenTicket reports whether token can be used and for whom. It changes nothing:
// mail scanners open links, and a GET must not use them up. Errors are the
// tickets' or ErrUnavailable.
func (s *Service) OpenTicket(ctx context.Context, token string) (*TicketInfo, error) {
	t, conn, err := s.usableTicket(ctx, token)
	if err != nil {
		return nil, err
	}
	client, _ := s.site.Client(t.ClientID)
	return &TicketInfo{
		Email: t.Email, Connection: t.Connection, ClientID: t.ClientID, AppName: s.site.AppName(client),
		Rules: RuleLines(conn.Policy), ExpiresAt: t.ExpiresAt, ResultURL: t.ResultURL, Ref: tickets.Ref(token),
		Language: t.Language,
	}, nil
}

// usableTicket reads a ticket that can be used now, with its connection.
func (s *Service) usableTicket(ctx context.Context, token string) (*tickets.Ticket, *Connection, error) {
	t, err := s.readTicket(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	if err := t.Usable(s.now()); err != nil {
		return nil, nil, err
	}
	conn, ok := s.site.Connections[t.Connection]
	if !ok || conn.Kind != users.Database {
		return nil, nil, ErrTicketInvalid
	}
	return t, conn, nil
}

// TicketContext returns the connection and client a ticket was issued for, even if
// the ticket can no longer be used, so that an error page can offer a new link for
// the same application. It returns false for a ticket that does not exist.
func (s *Service) TicketContext(ctx context.Context, token string) (conn, clientID string, ok bool) {
	t, err := s.readTicket(ctx, token)
	if err != nil {
		return "", "", false
	}
	return t.Connection, t.ClientID, true
}

func (s *Service) readTicket(ctx context.Context, token string) (*tickets.Ticket, error) {
	key, err := tickets.Parse(token)
	if err != nil {
		return nil, err
	}
	return s.readTicketKey(ctx, key)
}

func (s *Service) readTicketKey(ctx context.Context, key string) (*tickets.Ticket, error) {
	var t *tickets.Ticket
	err := s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		t, err = tickets.Get(tx, key)
		return err
	})
	switch {
	case errors.Is(err, ErrTicketInvalid):
		return nil, err
	case err != nil:
		return nil, s.storeErr("read ticket", err)
	}
	return t, nil
}

// Completion is the outcome of a successful reset.
type Completion struct {
	// RedirectURL is the result URL with Auth0's success, message and (unless
	// disabled) email parameters; empty when there is no result URL.
	RedirectURL string
	AppName     string
	// Language is the ticket's language ("" for none).
	Language string
}

// SuccessMessage is Auth0's message after a password change.
const SuccessMessage = "You can now login to the application with the new password."

// ResetForm is a submitted reset form.
type ResetForm struct {
	Ticket, Password, Confirm string
	// IP is the client's address, for the per-IP limit.
	IP string
	// UILocales (the form's language) and AcceptLanguage choose the notice's
	// language, with the ticket's between them, as they chose the form's.
	UILocales, AcceptLanguage string
}

// EventCompleted is emitted after a password was reset: the app may want to end
// the user's sessions (the change_password hook also says so).
const EventCompleted = "password_reset.completed"

// The other events of the flow and the admin service, for Caddy's events app
// (README "Events").
const (
	EventTicketCancelled = "password_reset.ticket_cancelled" // its recipient cancelled a link ("this wasn't me")
	EventPasswordSet     = "password_reset.password_set"     // an admin set a user's password
	EventTemplateChanged = "password_reset.template_changed" // an email template got a new version
	EventMailFailed      = "password_reset.mail_failed"      // an email failed for good
	EventMailRetrying    = "password_reset.mail_retrying"    // an email's attempts reached MailRetryingAfter
)

// MailRetryingAfter is the number of failed attempts after which an email
// still being retried is an event.
const MailRetryingAfter = 3

// CompleteReset sets a new password with a ticket. In order: the rate limits (per
// ticket and per IP, so a ticket cannot hammer the app's hook); the form and the
// policy (a weak password does not use the ticket up); the app is asked again
// whether the account still qualifies; the ticket is claimed atomically, so of
// many concurrent submits exactly one proceeds; the app's hook sets the password;
// then the ticket is marked used, the user's other tickets are cancelled, the
// notice is queued and the audit entry written, in one transaction. If the app
// answers that it did not change the password, the claim is released and the
// ticket stays usable.
//
// Once the hook is called its outcome is recorded whatever the client does: the
// call and what follows run detached from ctx (a browser that hangs up must not
// leave a changed password with a live link), bounded by the hook's own timeout,
// which is shorter than the claim. When the app gives no valid answer (a timeout,
// a broken connection) the password may have changed: the ticket is closed as if
// it had, and the error is ErrTicketUnconfirmed.
//
// Errors are the form's (ErrPasswordMissing ...), a policy's (with the marked
// rules as Detail), the tickets', ErrRateLimited, the app's refusal (Refused),
// ErrAppUnavailable or ErrUnavailable.
func (s *Service) CompleteReset(ctx context.Context, form ResetForm) (*Completion, error) {
	t, conn, err := s.usableTicket(ctx, form.Ticket)
	if err != nil {
		return nil, err
	}
	key, _ := tickets.Parse(form.Ticket)
	if err := s.limitSubmit(ctx, key, form.IP); err != nil {
		return nil, err
	}
	if err := checkForm(form.Password, form.Confirm); err != nil {
		return nil, err
	}
	if err := s.checkPassword(ctx, conn.Policy, t, form.Password); err != nil {
		return nil, err
	}
	if err := s.recheckAccount(ctx, conn, key, t); err != nil {
		return nil, err
	}
	hist, err := history.NewEntry(ctx, conn.Policy, form.Password, s.now())
	if err != nil {
		return nil, err
	}
	if t, err = s.claimTicket(ctx, key); err != nil {
		return nil, err
	}
	// From here on the client's going away changes nothing.
	ctx = context.WithoutCancel(ctx)
	confirmed := true
	if err := s.changePassword(ctx, t, form.Password); err != nil {
		if !errors.Is(err, users.ErrOutcomeUnknown) {
			s.releaseTicket(ctx, key, t, changeFailedEntry(t, form.IP, err))
			return nil, err
		}
		confirmed = false
	}
	notice := s.renderNotice(ctx, t, form.IP, s.site.Langs().Choose(form.UILocales, t.Language, form.AcceptLanguage))
	entry := resetAuditEntry(t, form.IP, confirmed)
	if err := s.finishTicket(ctx, key, t, notice, hist, conn.Policy.History, entry); err != nil {
		// The password may have changed and the ticket could not be closed: the
		// claim keeps it from being used until it runs out. Say so loudly.
		s.log.Error("password changed but ticket not marked used", "error", err)
	}
	if !confirmed {
		s.NoteTicket(TicketUnconfirmed)
		s.log.Warn("change_password hook gave no valid answer; the ticket was closed as used",
			"connection", t.Connection, "client_id", t.ClientID)
		return nil, ErrTicketUnconfirmed
	}
	s.NoteTicket(TicketCompleted)
	s.emit(ctx, EventCompleted, map[string]any{
		"connection": t.Connection, "client_id": t.ClientID, "user_id": t.UserID, "source": t.Source,
	})
	s.log.Info("password reset completed", "connection", t.Connection, "client_id", t.ClientID)
	client, _ := s.site.Client(t.ClientID)
	return &Completion{RedirectURL: resultRedirect(t, true, SuccessMessage), AppName: s.site.AppName(client), Language: t.Language}, nil
}

// checkPassword applies the connection's policy, with the user's profile for the
// personal-data rule, and its password history. A refusal carries the rules,
// each marked as the check found it.
func (s *Service) checkPassword(ctx context.Context, pol policy.Policy, t *tickets.Ticket, password string) error {
	info := policy.UserInfo{Email: t.Email, Name: t.Name, Nickname: t.Nickname, GivenName: t.GivenName, FamilyName: t.FamilyName}
	err := pol.CheckFor(password, info)
	var pe *policy.Error
	switch {
	case errors.As(err, &pe):
		return policyError(pol, password, info, pe)
	case err != nil:
		return &fault.Error{Kind: fault.Invalid, Code: "password_unreadable", Message: "The password cannot be read: " + err.Error()}
	}
	err = history.Check(ctx, s.cfg.Store, pol, t.Connection, t.UserID, password, s.now())
	switch {
	case errors.As(err, &pe):
		return policyError(pol, password, info, pe)
	case err != nil:
		return s.storeErr("check the password history", err)
	}
	return nil
}

// policyError is a policy's refusal: Auth0's error name as the code, its message,
// and the rules marked as the check found them.
func policyError(pol policy.Policy, password string, info policy.UserInfo, pe *policy.Error) error {
	return &fault.Error{Kind: fault.Invalid, Code: pe.Name, Message: pe.Message + ".",
		Detail: MarkedRules(pol, password, info, pe), Err: pe}
}

// recheckAccount asks the app again, just before the password changes, whether
// the ticket's user still exists with the same address and is not blocked: a
// ticket dies with an account that was disabled or whose email changed since the
// link was sent (SFTPGo CVE-2024-37897; reset-after-email-change reports). Such
// a ticket is cancelled, not merely refused, so that unblocking the account or
// changing the address back does not revive the link. If the app cannot answer,
// the user is asked to try again and the ticket stays usable.
func (s *Service) recheckAccount(ctx context.Context, conn *Connection, key string, t *tickets.Ticket) error {
	user, err := conn.Users.LookupUserByID(ctx, t.UserID)
	var why *fault.Error
	switch {
	case errors.Is(err, users.ErrNotFound):
		why = ErrTicketAccountGone
	case err != nil:
		s.log.Error("get_user hook failed before a reset", "connection", t.Connection, "error", err)
		return ErrAppUnavailable.With(err)
	case user.Blocked:
		why = ErrTicketAccountBlocked
	case !strings.EqualFold(user.Email, t.Email):
		why = ErrTicketAddressChanged
	default:
		return nil
	}
	return s.cancelForAccount(ctx, key, t, why)
}

// cancelForAccount cancels a ticket whose account no longer qualifies, with the
// reason, and returns the reason.
func (s *Service) cancelForAccount(ctx context.Context, key string, t *tickets.Ticket, why *fault.Error) error {
	err := storage.UpdateRetry(context.WithoutCancel(ctx), s.cfg.Store, func(tx storage.Tx) error {
		if err := tickets.Close(tx, key, why.Code, s.now()); err != nil {
			return err
		}
		return s.cfg.Audit.Put(tx, audit.Entry{Type: audit.TicketCancelled, Actor: "user",
			Description: "Reset link cancelled before use: " + why.Message,
			UserID:      t.UserID, UserName: t.Email, Connection: t.Connection, ClientID: t.ClientID})
	})
	if err != nil {
		return s.storeErr("cancel ticket", err)
	}
	s.log.Info("reset link cancelled: the account changed since it was sent", "connection", t.Connection, "reason", why.Code)
	return why
}

// limitSubmit applies the reset form's limits. The ticket is counted by its hash.
func (s *Service) limitSubmit(ctx context.Context, key, ip string) error {
	d, err := s.cfg.Limiter.Allow(ctx,
		ratelimit.Check{Name: "reset_ticket", Key: key, Limit: s.cfg.Limits.ResetTicket},
		ratelimit.Check{Name: "reset_ip", Key: IPKey(ip), Limit: s.cfg.Limits.ResetIP})
	if err != nil {
		return s.storeErr("check rate limits", err)
	}
	if !d.Allowed {
		return rateLimited(d)
	}
	return nil
}

func checkForm(password, confirm string) error {
	switch {
	case password == "":
		return ErrPasswordMissing
	case confirm == "":
		return ErrConfirmationMissing
	case password != confirm:
		return ErrPasswordsDiffer
	}
	return nil
}

// claimTicket takes the ticket for one submit. A concurrent claim loses (with a
// conflict, or by finding the claim), reported as ErrTicketBusy.
func (s *Service) claimTicket(ctx context.Context, key string) (*tickets.Ticket, error) {
	var claimed *tickets.Ticket
	err := s.cfg.Store.Update(ctx, func(tx storage.Tx) error {
		var err error
		claimed, err = tickets.Claim(tx, key, s.now())
		return err
	})
	_, isFault := fault.As(err)
	switch {
	case err == nil:
		return claimed, nil
	case isFault:
		return nil, err
	case errors.Is(err, storage.ErrConflict):
		return nil, ErrTicketBusy
	}
	return nil, s.storeErr("claim ticket", err)
}

// changePassword calls the app's change_password hook. Errors wrapping
// users.ErrOutcomeUnknown mean the password may have changed.
func (s *Service) changePassword(ctx context.Context, t *tickets.Ticket, password string) error {
	conn, ok := s.site.Connections[t.Connection]
	if !ok {
		return ErrTicketInvalid
	}
	err := conn.Users.ChangePassword(ctx, users.ChangeRequest{
		UserID: t.UserID, Email: t.Email, Password: password, Reason: users.ReasonReset, EndSessions: true,
		MarkEmailVerified: t.MarkEmailVerified,
	})
	var no *users.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &no):
		return refused(no.Message)
	}
	s.log.Error("change_password hook failed", "connection", t.Connection, "error", err)
	if errors.Is(err, users.ErrOutcomeUnknown) {
		return err
	}
	return ErrAppUnavailable.With(err)
}

// releaseTicket gives the ticket back after a failed hook call, and records the
// failure (fcp) in the same commit.
func (s *Service) releaseTicket(ctx context.Context, key string, claimed *tickets.Ticket, entry audit.Entry) {
	err := storage.UpdateRetry(context.WithoutCancel(ctx), s.cfg.Store, func(tx storage.Tx) error {
		if err := tickets.Release(tx, key, claimed, s.now()); err != nil {
			return err
		}
		return s.cfg.Audit.Put(tx, entry)
	})
	if err != nil {
		s.log.Warn("could not release ticket; it becomes usable when the claim runs out", "error", err)
	}
}

// finishTicket marks the ticket used, cancels the user's other tickets, records the
// password in the history (if kept), queues the "password changed" notice (if
// any) and writes the audit entry, in one transaction.
func (s *Service) finishTicket(ctx context.Context, key string, claimed *tickets.Ticket, notice *mail.Composed, hist *history.Entry, keep int, entry audit.Entry) error {
	var mailID string
	err := storage.UpdateRetry(context.WithoutCancel(ctx), s.cfg.Store, func(tx storage.Tx) error {
		now := s.now()
		if err := tickets.Finish(tx, key, claimed, entry.Type == audit.PasswordUnconfirmed, now); err != nil {
			return err
		}
		if err := history.Put(tx, claimed.Connection, claimed.UserID, hist, keep); err != nil {
			return err
		}
		if err := s.cfg.Audit.Put(tx, entry); err != nil {
			return err
		}
		if notice == nil {
			return nil
		}
		// A security notice: ahead of any backlog.
		mailID = s.cfg.Outbox.NewID()
		return s.cfg.Outbox.PutComposed(tx, mailID, notice, queue.High, nil)
	})
	if err == nil && mailID != "" {
		s.cfg.Outbox.Queued(notice.Kind())
		s.cfg.Outbox.NotifyPriority(mailID, queue.High)
	}
	return err
}

// resetAuditEntry records a completed reset (or one whose outcome the app did
// not confirm).
func resetAuditEntry(t *tickets.Ticket, ip string, confirmed bool) audit.Entry {
	desc := "Password changed with an emailed link"
	if t.Source == tickets.FromAdmin {
		desc = "Password changed with an admin ticket"
	}
	typ := audit.PasswordReset
	if !confirmed {
		typ = audit.PasswordUnconfirmed
		desc += ", but the app's change_password hook did not confirm it (no valid answer): the link was closed"
	}
	return audit.Entry{
		Type: typ, Description: desc, Actor: "user", IP: ip,
		UserID: t.UserID, UserName: t.Email, Connection: t.Connection, ClientID: t.ClientID,
	}
}

// changeFailedEntry records that the app refused, or could not take, the
// password a user chose with t (a refusal of the policy is not recorded: it
// happens before the ticket is claimed, and recording it would cost every
// weak-password submit a commit).
func changeFailedEntry(t *tickets.Ticket, ip string, err error) audit.Entry {
	desc := "Password change with a link failed: the app did not set the password (its change_password hook failed); the link stays usable"
	if f, ok := fault.As(err); ok && f.Kind == fault.Refused {
		desc = "Password change with a link failed: the app refused the password; the link stays usable"
	}
	return audit.Entry{
		Type: audit.PasswordResetFailed, Description: desc, Actor: "user", IP: ip,
		UserID: t.UserID, UserName: t.Email, Connection: t.Connection, ClientID: t.ClientID,
	}
}

// renderNotice renders the "your password was changed" email for t's user, or
// returns nil when the template is disabled. A failure is logged and sends no
// notice: the password has already changed, and the reset must still succeed.
func (s *Service) renderNotice(ctx context.Context, t *tickets.Ticket, ip string, lang *templates.Lang) *mail.Composed {
	tpl, err := s.cfg.Templates.ForLanguage(ctx, templates.PasswordChanged, lang)
	if err != nil {
		s.log.Error("password_changed template", "error", err)
		return nil
	}
	if !tpl.Template.Enabled {
		return nil
	}
	client, _ := s.site.Client(t.ClientID)
	r, err := tpl.Email.Render(templates.EmailData{
		User:           templates.UserData{UserID: t.UserID, Email: t.Email, Name: t.Name},
		Application:    templates.ApplicationData{Name: s.site.AppName(client), ClientID: t.ClientID},
		ConnectionName: t.Connection,
		ChangedAt:      lang.Date(s.now()),
		RemoteIP:       ip,
		ForgotURL:      s.site.ForgotURL(t.ClientID, t.Connection),
		FriendlyName:   s.site.FriendlyName, SupportEmail: s.site.SupportEmail, SupportURL: s.site.SupportURL,
		RequestLanguage: lang.Tag(),
	})
	if err != nil {
		s.log.Error("render password_changed", "version", tpl.Version, "error", err)
		return nil
	}
	c, err := s.cfg.Outbox.Compose(templates.PasswordChanged, &mail.Message{From: FirstNonEmpty(tpl.Template.From, s.site.DefaultFrom),
		To: t.Email, Subject: r.Subject, Text: r.Text, HTML: r.HTML})
	if err != nil {
		s.log.Error("compose password_changed", "version", tpl.Version, "error", err)
		return nil
	}
	return c
}

// resultRedirect returns the ticket's result URL with Auth0's parameters, or "".
func resultRedirect(t *tickets.Ticket, success bool, message string) string {
	if t.ResultURL == "" {
		return ""
	}
	u, err := url.Parse(t.ResultURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	if t.IncludeEmail {
		q.Set("email", t.Email)
	}
	q.Set("message", message)
	q.Set("success", map[bool]string{true: "true", false: "false"}[success])
	u.RawQuery = q.Encode()
	return u.String()
}
