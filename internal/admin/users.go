package admin

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/history"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// User is a user as the admin side shows it.
type User = users.User

// databaseConnection returns the database connection named, or whose con_ id
// is, ref (Auth0's connection_id takes either), or the refusal.
func (s *Service) databaseConnection(ref string) (*reset.Connection, error) {
	conn, ok := s.site.ConnectionByRef(ref)
	name := ref
	if !ok {
		return nil, invalid("Connection does not exist: %s", name)
	}
	if conn.Kind != users.Database {
		return nil, fail(fault.Invalid, "operation_not_supported", "%s is a %s connection: its users have no password here", conn.Name, conn.Kind)
	}
	return conn, nil
}

// findUser looks a user up by id (in connName, or in every database connection
// when it is empty) or by email in connName. A user id found in more than one
// connection is refused as ambiguous: two apps may use the same ids, and
// guessing would act on another app's user.
func (s *Service) findUser(ctx context.Context, userID, connName, email string) (*reset.Connection, *users.User, error) {
	found, err := s.findAll(ctx, userID, connName, email)
	switch {
	case err != nil:
		return nil, nil, err
	case len(found) == 0:
		return nil, nil, errNoUser
	case len(found) > 1:
		return nil, nil, fail(fault.Invalid, "ambiguous_user",
			"User %s exists in connections %s and %s: name the connection", userID, found[0].Connection.Name, found[1].Connection.Name)
	}
	return found[0].Connection, found[0].User, nil
}

// FoundUser is a user found in a database connection.
type FoundUser struct {
	User       *users.User
	Connection *reset.Connection
}

// findAll looks a user up by id, or by email, in connName or, when it is empty,
// in every database connection, and returns each match, by connection name.
// An app that does not answer fails the whole lookup: a partial answer would
// read as "no such user".
func (s *Service) findAll(ctx context.Context, userID, connName, email string) ([]FoundUser, error) {
	conns, err := s.connections(connName)
	if err != nil {
		return nil, err
	}
	if email != "" {
		norm, err := reset.NormalizeEmail(email)
		if err != nil {
			e, _ := fault.As(err)
			return nil, invalid("%s", e.Message)
		}
		email = norm
	}
	var found []FoundUser
	for _, conn := range conns {
		user, err := lookup(ctx, conn, userID, email)
		switch {
		case errors.Is(err, users.ErrNotFound):
			continue
		case err != nil:
			s.log.Error("get_user hook failed", "connection", conn.Name, "error", err)
			return nil, fail(fault.Unavailable, "temporarily_unavailable",
				"The app behind connection %s did not answer the user lookup; nothing was changed. Try again shortly.", conn.Name)
		}
		found = append(found, FoundUser{User: user, Connection: conn})
	}
	return found, nil
}

// connections returns the named database connection, or all of them, sorted by
// name, when name is empty.
func (s *Service) connections(name string) ([]*reset.Connection, error) {
	if name != "" {
		conn, err := s.databaseConnection(name)
		if err != nil {
			return nil, err
		}
		return []*reset.Connection{conn}, nil
	}
	var conns []*reset.Connection
	for _, n := range s.site.DatabaseConnections() {
		c, _ := s.site.Connection(n)
		conns = append(conns, c)
	}
	return conns, nil
}

// lookup finds a user by email, or else by id, in conn.
func lookup(ctx context.Context, conn *reset.Connection, userID, email string) (*users.User, error) {
	if email != "" {
		return conn.Users.LookupUser(ctx, email)
	}
	return conn.Users.LookupUserByID(ctx, userID)
}

// SetPassword sets a user's password by hand (Auth0's PATCH /api/v2/users/{id}
// with a password): the connection's policy applies, the app's change_password
// hook is called with reason "admin" and asked to end the user's sessions, the
// user's open tickets are cancelled, and the user is not notified. connName may
// be empty only when there is one database connection.
func (s *Service) SetPassword(ctx context.Context, a Actor, userID, connName, password string) (*users.User, string, error) {
	switch {
	case userID == "":
		return nil, "", fail(fault.Invalid, "invalid_uri", "user id is required")
	case password == "":
		return nil, "", invalid("Payload validation error: password must not be empty")
	}
	if connName != "" {
		if _, err := s.databaseConnection(connName); err != nil {
			return nil, "", err
		}
	} else if names := s.site.DatabaseConnections(); len(names) > 1 {
		// A user id is the app's; two apps may use the same ids. Guessing would
		// send one user's new password to another app.
		return nil, "", invalid("Payload validation error: connection is required when several database connections are configured (%s)", strings.Join(names, ", "))
	}
	conn, user, err := s.findUser(ctx, userID, connName, "")
	if err != nil {
		return nil, "", err
	}
	if err := s.checkPassword(ctx, conn, user, password); err != nil {
		return nil, "", err
	}
	hist, err := history.NewEntry(ctx, conn.Policy, password, s.now())
	if err != nil {
		return nil, "", err
	}
	// Once the hook is called its outcome is recorded whatever the client does.
	ctx = context.WithoutCancel(ctx)
	err = conn.Users.ChangePassword(ctx, users.ChangeRequest{
		UserID: user.UserID, Email: user.Email, Password: password, Reason: users.ReasonAdmin, EndSessions: true,
	})
	var no *users.RefusedError
	confirmed := true
	switch {
	case errors.Is(err, users.ErrNotFound):
		return nil, "", errNoUser
	case errors.As(err, &no):
		return nil, "", fail(fault.Refused, "password_refused", "The app refused the password: %s", no.Message)
	case errors.Is(err, users.ErrOutcomeUnknown):
		// The password may have changed: record it as if it had, and say so.
		s.log.Error("change_password hook gave no valid answer", "connection", conn.Name, "error", err)
		confirmed = false
	case err != nil:
		s.log.Error("change_password hook failed", "connection", conn.Name, "error", err)
		return nil, "", fail(fault.Unavailable, "temporarily_unavailable", "The app behind connection %s did not set the password; try again shortly.", conn.Name)
	}
	s.recordPasswordSet(ctx, a, conn, user, hist, confirmed)
	s.flow.Emit(ctx, reset.EventPasswordSet, map[string]any{"connection": conn.Name, "user_id": user.UserID,
		"actor": a.Name, "confirmed": confirmed})
	if !confirmed {
		return nil, "", fail(fault.Unconfirmed, "password_unconfirmed",
			"The app behind connection %s did not confirm the change (no valid answer): the password may have changed. The user's open reset links were cancelled.", conn.Name)
	}
	return user, conn.Name, nil
}

// checkPassword applies the whole policy, as for a reset: strength, personal
// data, history.
func (s *Service) checkPassword(ctx context.Context, conn *reset.Connection, user *users.User, password string) error {
	err := conn.Policy.CheckFor(password, policy.UserInfo{Email: user.Email, Name: user.Name, Nickname: user.Nickname,
		GivenName: user.GivenName, FamilyName: user.FamilyName})
	if err != nil {
		return passwordRefusal(err)
	}
	if err := history.Check(ctx, s.cfg.Store, conn.Policy, conn.Name, user.UserID, password, s.now()); err != nil {
		if pe := (*policy.Error)(nil); errors.As(err, &pe) {
			return passwordRefusal(err)
		}
		return s.storeErr("check the password history", err)
	}
	return nil
}

// passwordRefusal is the Management API's invalid_password for a refusal of the
// policy (or a password it cannot read).
func passwordRefusal(err error) error {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return fail(fault.Invalid, "invalid_password", "%s: %s", pe.Name, pe.Message)
	}
	return fail(fault.Invalid, "invalid_password", "The password cannot be used: %v", err)
}

// recordPasswordSet cancels the user's open tickets, records the password in the
// history and writes the audit entry, in one transaction: after the app's hook
// was called, whatever it answered.
func (s *Service) recordPasswordSet(ctx context.Context, a Actor, conn *reset.Connection, user *users.User, hist *history.Entry, confirmed bool) {
	entry := audit.Entry{
		Type: audit.PasswordSet, Description: "Password set by an admin; the user was not notified",
		UserID: user.UserID, UserName: user.Email, Connection: conn.Name,
	}.By(a)
	if !confirmed {
		entry.Description += "; the app did not confirm the change (no valid answer)"
	}
	err := storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if err := tickets.CloseUser(tx, conn.Name, user.UserID, "", s.now()); err != nil {
			return err
		}
		if err := history.Put(tx, conn.Name, user.UserID, hist, conn.Policy.History); err != nil {
			return err
		}
		return s.cfg.Audit.Put(tx, entry)
	})
	if err != nil {
		// The password did change; an older link stays usable until it expires.
		s.log.Error("password set but the user's open ticket not cancelled", "error", err)
	}
}

// OpenTicketInfo describes a user's open ticket, never the ticket itself.
type OpenTicketInfo struct {
	Source    string // "email" or "admin"
	ClientID  string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// UserInfo is a user as the dashboard shows it.
type UserInfo struct {
	User       *users.User
	Connection string
	// Rules are the connection's password rules, as the reset page lists them.
	Rules      []templates.RuleLine
	OpenTicket *OpenTicketInfo // nil when the user has no usable ticket
}

// FindUser looks a user up by email in a database connection, with the user's
// open ticket.
func (s *Service) FindUser(ctx context.Context, connName, email string) (*UserInfo, error) {
	if _, err := s.databaseConnection(connName); err != nil {
		return nil, err
	}
	conn, user, err := s.findUser(ctx, "", connName, email)
	if err != nil {
		return nil, err
	}
	info := &UserInfo{User: user, Connection: conn.Name, Rules: reset.RuleLines(conn.Policy)}
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		t, err := tickets.UserTicket(tx, conn.Name, user.UserID, s.now())
		if err != nil || t == nil {
			return err
		}
		info.OpenTicket = &OpenTicketInfo{Source: t.Source, ClientID: t.ClientID, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt}
		return nil
	})
	if err != nil {
		return nil, s.storeErr("read the user's ticket", err)
	}
	return info, nil
}

// SendResetEmail has a reset email sent to a user, as if they had asked for it
// (the admin's own address is not rate-limited).
func (s *Service) SendResetEmail(ctx context.Context, a Actor, connName, email, clientID string) error {
	_, err := s.flow.RequestReset(ctx, reset.Request{ClientID: clientID, Email: email, Connection: connName, IP: a.IP, Admin: true})
	if err != nil {
		return err
	}
	s.record(ctx, audit.Entry{
		Type: audit.ResetRequested, Description: "Reset email requested by an admin",
		UserName: email, Connection: connName, ClientID: clientID,
	}.By(a))
	return nil
}

// lifetimeWords says a ticket's lifetime in words.
func lifetimeWords(d time.Duration) string { return emailtemplates.LifetimeWords(d) }
