package reset

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// TicketInfo is what the reset page shows about a usable ticket.
type TicketInfo struct {
	Email      string
	Connection string
	ClientID   string
	AppName    string
	Policy     policy.Policy
	ExpiresAt  time.Time
	// ResultURL is where the user goes after the reset ("" for a success page).
	ResultURL string
}

// OpenTicket reports whether token can be used and for whom. It changes nothing:
// mail scanners open links, and a GET must not use them up. Errors are
// *TicketError or ErrUnavailable.
func (s *Service) OpenTicket(ctx context.Context, token string) (*TicketInfo, error) {
	t, conn, err := s.usableTicket(ctx, token)
	if err != nil {
		return nil, err
	}
	client, _ := s.Client(t.ClientID)
	return &TicketInfo{
		Email: t.Email, Connection: t.Connection, ClientID: t.ClientID,
		AppName: s.appName(client), Policy: conn.Policy, ExpiresAt: t.ExpiresAt, ResultURL: t.ResultURL,
	}, nil
}

// usableTicket reads a ticket that can be used now, with its connection.
func (s *Service) usableTicket(ctx context.Context, token string) (*Ticket, *Connection, error) {
	t, err := s.readTicket(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	if err := t.usable(s.now()); err != nil {
		return nil, nil, err
	}
	conn, ok := s.cfg.Connections[t.Connection]
	if !ok || conn.Kind != connection.Database {
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

func (s *Service) readTicket(ctx context.Context, token string) (*Ticket, error) {
	key, err := parseTicket(token)
	if err != nil {
		return nil, err
	}
	var t *Ticket
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		t, err = getTicket(tx, key)
		return err
	})
	var te *TicketError
	if errors.As(err, &te) {
		return nil, err
	}
	if err != nil {
		return nil, s.storeErr("read ticket", err)
	}
	return t, nil
}

// FormError is a mistake in the reset form; nothing was changed.
type FormError struct{ Message string }

func (e *FormError) Error() string { return e.Message }

// Completion is the outcome of a successful reset.
type Completion struct {
	// RedirectURL is the result URL with Auth0's success, message and (unless
	// disabled) email parameters; empty when there is no result URL.
	RedirectURL string
	AppName     string
}

// SuccessMessage is Auth0's message after a password change.
const SuccessMessage = "You can now login to the application with the new password."

// ResetForm is a submitted reset form.
type ResetForm struct {
	Ticket, Password, Confirm string
	// IP is the client's address, for the per-IP limit.
	IP string
}

// CompleteReset sets a new password with a ticket. In order: the rate limits (per
// ticket and per IP, so a ticket cannot hammer the app's hook); the form and the
// policy (a weak password does not use the ticket up); the ticket is claimed
// atomically, so of many concurrent submits exactly one proceeds; the app's hook
// sets the password; then the ticket is marked used, the user's other tickets are
// cancelled, the notice is queued and the audit entry written, in one
// transaction. If the app answers that it did not change the password, the claim
// is released and the ticket stays usable.
//
// Once the hook is called its outcome is recorded whatever the client does: the
// call and what follows run detached from ctx (a browser that hangs up must not
// leave a changed password with a live link), bounded by the hook's own timeout,
// which is shorter than the claim. When the app gives no valid answer (a timeout,
// a broken connection) the password may have changed: the ticket is closed as if
// it had, and the user is told to try the new password.
//
// Errors are *FormError, *policy.Error, *TicketError, *AppRefusedError,
// *TryAgainError, *RateLimitError or ErrUnavailable.
func (s *Service) CompleteReset(ctx context.Context, form ResetForm) (*Completion, error) {
	token, password, confirm := form.Ticket, form.Password, form.Confirm
	t, conn, err := s.usableTicket(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := s.limitSubmit(ctx, token, form.IP); err != nil {
		return nil, err
	}
	if err := checkForm(password, confirm); err != nil {
		return nil, err
	}
	if err := s.checkPassword(ctx, conn.Policy, t, password); err != nil {
		return nil, err
	}
	key, _ := parseTicket(token)
	if err := s.recheckAccount(ctx, conn, key, t); err != nil {
		return nil, err
	}
	hist, err := s.historyUpdate(ctx, conn.Policy, password)
	if err != nil {
		return nil, err
	}
	if t, err = s.claimTicket(ctx, key); err != nil {
		return nil, err
	}
	// From here on the client's going away changes nothing.
	ctx = context.WithoutCancel(ctx)
	confirmed := true
	if err := s.changePassword(ctx, t, password); err != nil {
		if !errors.Is(err, connection.ErrOutcomeUnknown) {
			s.releaseTicket(ctx, key, t)
			return nil, err
		}
		confirmed = false
	}
	notice := s.renderNotice(ctx, t, form.IP)
	audit := resetAuditEntry(t, form.IP, confirmed)
	if err := s.finishTicket(ctx, key, t, notice, hist, conn.Policy.History, audit); err != nil {
		// The password may have changed and the ticket could not be closed: the
		// claim keeps it from being used until it runs out. Say so loudly.
		s.log.Error("password changed but ticket not marked used", zap.Error(err))
	}
	if !confirmed {
		s.log.Warn("change_password hook gave no valid answer; the ticket was closed as used",
			zap.String("connection", t.Connection), zap.String("client_id", t.ClientID))
		return nil, ErrTicketUnconfirmed
	}
	s.emit(ctx, EventCompleted, map[string]any{
		"connection": t.Connection, "client_id": t.ClientID, "user_id": t.UserID, "source": t.Source,
	})
	s.log.Info("password reset completed", zap.String("connection", t.Connection), zap.String("client_id", t.ClientID))
	client, _ := s.Client(t.ClientID)
	return &Completion{RedirectURL: resultRedirect(t, true, SuccessMessage), AppName: s.appName(client)}, nil
}

// checkPassword applies the connection's policy, with the user's profile for the
// personal-data rule, and its password history.
func (s *Service) checkPassword(ctx context.Context, pol policy.Policy, t *Ticket, password string) error {
	err := pol.CheckFor(password, policy.UserInfo{Email: t.Email, Name: t.Name, Nickname: t.Nickname,
		GivenName: t.GivenName, FamilyName: t.FamilyName})
	var pe *policy.Error
	switch {
	case errors.As(err, &pe):
		return err
	case err != nil:
		return &FormError{Message: "The password cannot be read: " + err.Error()}
	}
	return s.checkHistory(ctx, pol, t.Connection, t.UserID, password)
}

// recheckAccount asks the app again, just before the password changes, whether
// the ticket's user still exists with the same address and is not blocked: a
// ticket dies with an account that was disabled or whose email changed since the
// link was sent (SFTPGo CVE-2024-37897; reset-after-email-change reports). Such
// a ticket is cancelled, not merely refused, so that unblocking the account or
// changing the address back does not revive the link. If the app cannot answer,
// the user is asked to try again and the ticket stays usable.
func (s *Service) recheckAccount(ctx context.Context, conn *Connection, key string, t *Ticket) error {
	byID, ok := conn.Users.(connection.IDDirectory)
	if !ok {
		return nil
	}
	user, err := byID.LookupUserByID(ctx, t.UserID)
	var why *TicketError
	switch {
	case errors.Is(err, connection.ErrUserNotFound):
		why = ErrTicketAccountGone
	case err != nil:
		s.log.Error("get_user hook failed before a reset", zap.String("connection", t.Connection), zap.Error(err))
		return &TryAgainError{Message: genericTryAgain, cause: err}
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
func (s *Service) cancelForAccount(ctx context.Context, key string, t *Ticket, why *TicketError) error {
	err := storage.UpdateRetry(context.WithoutCancel(ctx), s.cfg.Store, func(tx storage.Tx) error {
		now := s.now()
		if err := closeTicketWithReason(tx, key, TicketCancelled, why.Kind, now); err != nil {
			return err
		}
		return s.putAudit(tx, AuditEntry{Type: AuditTicketCancelled, Actor: "user",
			Description: "Reset link cancelled before use: " + why.Message,
			UserID:      t.UserID, UserName: t.Email, Connection: t.Connection, ClientID: t.ClientID})
	})
	if err != nil {
		return s.storeErr("cancel ticket", err)
	}
	s.log.Info("reset link cancelled: the account changed since it was sent",
		zap.String("connection", t.Connection), zap.String("reason", why.Kind))
	return why
}

// limitSubmit applies the reset form's limits. The ticket is counted by its hash.
func (s *Service) limitSubmit(ctx context.Context, token, ip string) error {
	d, err := s.limiter.Allow(ctx,
		ratelimit.Check{Name: "reset_ticket", Key: ticketKey(token), Limit: s.cfg.Limits.ResetTicket},
		ratelimit.Check{Name: "reset_ip", Key: ipKey(ip), Limit: s.cfg.Limits.ResetIP})
	if err != nil {
		return s.storeErr("check rate limits", err)
	}
	if !d.Allowed {
		return &RateLimitError{Decision: d}
	}
	return nil
}

func checkForm(password, confirm string) error {
	switch {
	case password == "":
		return &FormError{Message: "Enter a new password."}
	case confirm == "":
		return &FormError{Message: "New password confirmation is missing."}
	case password != confirm:
		return &FormError{Message: "Please ensure the password and the confirmation are the same."}
	}
	return nil
}

// claimTicket takes the ticket for one submit. A concurrent claim loses (with a
// conflict, or by finding the claim), reported as "in progress".
func (s *Service) claimTicket(ctx context.Context, key string) (*Ticket, error) {
	var claimed *Ticket
	err := s.cfg.Store.Update(ctx, func(tx storage.Tx) error {
		t, err := getTicket(tx, key)
		if err != nil {
			return err
		}
		now := s.now()
		if err := t.usable(now); err != nil {
			return err
		}
		if now.Before(t.ClaimedUntil) {
			return ErrTicketBusy
		}
		t.ClaimedUntil = now.Add(claimFor)
		claimed = t
		return putTicket(tx, key, t, now)
	})
	var te *TicketError
	switch {
	case err == nil:
		return claimed, nil
	case errors.As(err, &te):
		return nil, err
	case errors.Is(err, storage.ErrConflict):
		return nil, ErrTicketBusy
	}
	return nil, s.storeErr("claim ticket", err)
}

// changePassword calls the app's change_password hook. Errors wrapping
// connection.ErrOutcomeUnknown mean the password may have changed.
func (s *Service) changePassword(ctx context.Context, t *Ticket, password string) error {
	conn, ok := s.cfg.Connections[t.Connection]
	if !ok {
		return ErrTicketInvalid
	}
	err := conn.Users.ChangePassword(ctx, connection.ChangeRequest{
		UserID: t.UserID, Email: t.Email, Password: password, Reason: hook.ReasonReset, EndSessions: true,
		MarkEmailVerified: t.MarkEmailVerified,
	})
	var refused *connection.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		return &AppRefusedError{Message: refused.Message}
	}
	s.log.Error("change_password hook failed", zap.String("connection", t.Connection), zap.Error(err))
	if errors.Is(err, connection.ErrOutcomeUnknown) {
		return err
	}
	return &TryAgainError{Message: genericTryAgain, cause: err}
}

// releaseTicket gives the ticket back after a failed hook call.
func (s *Service) releaseTicket(ctx context.Context, key string, claimed *Ticket) {
	err := storage.UpdateRetry(context.WithoutCancel(ctx), s.cfg.Store, func(tx storage.Tx) error {
		t, err := getTicket(tx, key)
		if err != nil || !t.ClaimedUntil.Equal(claimed.ClaimedUntil) {
			return err
		}
		t.ClaimedUntil = time.Time{}
		return putTicket(tx, key, t, s.now())
	})
	if err != nil {
		s.log.Warn("could not release ticket; it becomes usable when the claim runs out", zap.Error(err))
	}
}

// finishTicket marks the ticket used, cancels the user's other tickets, records the
// password in the history (if kept), queues the "password changed" notice (if
// any) and writes the audit entry, in one transaction.
func (s *Service) finishTicket(ctx context.Context, key string, claimed *Ticket, notice *mail.Composed, hist *historyEntry, keep int, audit AuditEntry) error {
	var mailID string
	err := storage.UpdateRetry(context.WithoutCancel(ctx), s.cfg.Store, func(tx storage.Tx) error {
		now := s.now()
		t, err := getTicket(tx, key)
		if err != nil {
			return err
		}
		t.State, t.ClosedAt, t.ClaimedUntil = TicketUsed, now, time.Time{}
		if audit.Type == AuditPasswordUncertain {
			t.Reason = "unconfirmed"
		}
		if err := putTicket(tx, key, t, now); err != nil {
			return err
		}
		if err := closeUserTickets(tx, claimed.Connection, claimed.UserID, TicketCancelled, now); err != nil {
			return err
		}
		if err := putHistory(tx, claimed.Connection, claimed.UserID, hist, keep); err != nil {
			return err
		}
		if err := s.putAudit(tx, audit); err != nil {
			return err
		}
		if notice == nil {
			return nil
		}
		// A security notice: ahead of any backlog.
		mailID, err = s.outbox.PutComposed(tx, notice, queue.High)
		return err
	})
	if err == nil && mailID != "" {
		s.outbox.NotifyPriority(mailID, queue.High)
	}
	return err
}

// EventCompleted is emitted after a password was reset: the app may want to end
// the user's sessions (the change_password hook also says so).
const EventCompleted = "password_reset.completed"

// renderNotice renders the "your password was changed" email for t's user, or
// returns nil when the template is disabled. A failure is logged and sends no
// notice: the password has already changed, and the reset must still succeed.
func (s *Service) renderNotice(ctx context.Context, t *Ticket, ip string) *mail.Composed {
	tpl, err := s.emails.current(ctx, templates.PasswordChanged)
	if err != nil {
		s.log.Error("password_changed template", zap.Error(err))
		return nil
	}
	if !tpl.tpl.Enabled {
		return nil
	}
	client, _ := s.Client(t.ClientID)
	r, err := tpl.email.Render(templates.EmailData{
		User:           templates.UserData{UserID: t.UserID, Email: t.Email, Name: t.Name},
		Application:    templates.ApplicationData{Name: s.appName(client), ClientID: t.ClientID},
		ConnectionName: t.Connection,
		ChangedAt:      s.now().UTC().Format("Mon, 02 Jan 2006 15:04 MST"),
		RemoteIP:       ip,
		ForgotURL:      s.forgotURL(t.ClientID, t.Connection),
		FriendlyName:   s.cfg.FriendlyName, SupportEmail: s.cfg.SupportEmail, SupportURL: s.cfg.SupportURL,
	})
	if err != nil {
		s.log.Error("render password_changed", zap.Int("version", tpl.version), zap.Error(err))
		return nil
	}
	c, err := s.outbox.Compose(templates.PasswordChanged, &mail.Message{From: firstNonEmpty(tpl.tpl.From, s.cfg.DefaultFrom),
		To: t.Email, Subject: r.Subject, Text: r.Text, HTML: r.HTML})
	if err != nil {
		s.log.Error("compose password_changed", zap.Int("version", tpl.version), zap.Error(err))
		return nil
	}
	return c
}

// resultRedirect returns the ticket's result URL with Auth0's parameters, or "".
func resultRedirect(t *Ticket, success bool, message string) string {
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
