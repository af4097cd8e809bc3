package reset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// AdminError is a refusal of an admin call, in the shape of Auth0's Management API
// errors: {"statusCode": Status, "error": <status text>, "message": Message,
// "errorCode": Code}. Nothing was changed.
type AdminError struct {
	Status  int
	Code    string
	Message string
}

func (e *AdminError) Error() string { return e.Code + ": " + e.Message }

func adminErr(status int, code, format string, args ...any) *AdminError {
	return &AdminError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errNoUser is Auth0's answer for an unknown user.
var errNoUser = adminErr(http.StatusNotFound, "inexistent_user", "The user does not exist.")

// MaxTicketTTL bounds an admin ticket's ttl_sec.
const MaxTicketTTL = 30 * 24 * time.Hour

// TicketRequest is Auth0's POST /api/v2/tickets/password-change body.
type TicketRequest struct {
	// UserID names the user; or Email with ConnectionID (the connection's name).
	UserID, Email, ConnectionID string
	// ClientID picks the application (its name in the email, its result URL and
	// allow list); empty is the default client.
	ClientID string
	// ResultURL is where the user goes after the reset; it must be allowed for
	// the client. Empty: the template's Redirect To, else the client's.
	ResultURL string
	// TTL is the ticket's lifetime; zero is the template's URL lifetime.
	TTL time.Duration
	// MarkEmailAsVerified is passed to the change_password hook when the ticket
	// is used.
	MarkEmailAsVerified bool
	// IncludeEmailInRedirect overrides the template's setting when not nil.
	IncludeEmailInRedirect *bool
	// OrganizationID is kept with the ticket.
	OrganizationID string
}

// IssuedTicket is a created ticket: the link to hand to the user.
type IssuedTicket struct {
	URL       string
	ExpiresAt time.Time
	Lifetime  time.Duration
	// LifetimeText is Lifetime in words ("1 hour").
	LifetimeText string
	UserID       string
	Email        string
}

// CreateTicket creates a password-change ticket without sending an email (Auth0's
// POST /api/v2/tickets/password-change). The ticket behaves exactly like an
// emailed one, and cancels the user's older ones. Errors are *AdminError or
// ErrUnavailable.
func (s *Service) CreateTicket(ctx context.Context, a Actor, req TicketRequest) (*IssuedTicket, error) {
	switch {
	case req.UserID != "" && (req.Email != "" || req.ConnectionID != ""):
		return nil, adminErr(400, "invalid_body", "user_id cannot be used with email or connection_id")
	case req.Email != "" && req.ConnectionID == "":
		return nil, adminErr(400, "invalid_body", "Payload validation error: 'Missing required property: connection_id' (email needs connection_id)")
	case req.ConnectionID != "" && req.Email == "":
		return nil, adminErr(400, "invalid_body", "Payload validation error: 'Missing required property: email' (connection_id needs email)")
	case req.UserID == "" && req.Email == "":
		return nil, adminErr(400, "invalid_body", "Payload validation error: one of user_id, or email with connection_id, is required")
	case req.ResultURL != "" && req.OrganizationID != "":
		return nil, adminErr(400, "invalid_body", "result_url cannot be used with organization_id")
	case req.TTL < 0 || req.TTL > MaxTicketTTL:
		return nil, adminErr(400, "invalid_body", "ttl_sec must be between 0 (the template's URL lifetime) and %d", int(MaxTicketTTL/time.Second))
	}
	client, ok := s.Client(req.ClientID)
	if req.ClientID != "" && !ok {
		return nil, adminErr(400, "invalid_body", "Unknown client: %s", req.ClientID)
	}
	if req.ResultURL != "" {
		if client == nil {
			return nil, adminErr(400, "invalid_body", "result_url needs a client: declare one with its allowed_urls")
		}
		if err := client.CheckResultURL(req.ResultURL); err != nil {
			return nil, adminErr(400, "invalid_body", "%v (allowed for client %s: %s)", err, client.ID, allowedList(client))
		}
	}
	conn, user, err := s.findAdminUser(ctx, req.UserID, req.ConnectionID, req.Email)
	if err != nil {
		return nil, err
	}
	if user.Blocked {
		return nil, adminErr(400, "operation_not_supported", "The user is blocked: a blocked user cannot reset a password.")
	}
	tpl, err := s.emails.current(ctx, templates.ResetEmail)
	if err != nil {
		return nil, s.storeErr("read reset_email template", err)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = tpl.tpl.URLLifetime()
	}
	include := tpl.tpl.IncludeEmailInRedirect
	if req.IncludeEmailInRedirect != nil {
		include = *req.IncludeEmailInRedirect
	}
	now := s.now()
	token, key := newTicketToken()
	t := &Ticket{
		Connection: conn.Name, ClientID: clientID(client), UserID: user.UserID, Email: user.Email, Name: user.Name,
		ResultURL:    firstNonEmpty(req.ResultURL, tpl.tpl.ResultURL, clientResultURL(client)),
		IncludeEmail: include, Source: "admin", ExpiresAt: now.Add(ttl),
		MarkEmailVerified: req.MarkEmailAsVerified, Organization: req.OrganizationID,
	}
	err = storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		return issueTicket(tx, key, t, now)
	})
	if err != nil {
		return nil, s.storeErr("issue admin ticket", err)
	}
	s.auditAdmin(ctx, a, AuditEntry{
		Type: AuditTicketCreated, Description: "Password-change ticket created, valid for " + lifetimeWords(ttl),
		UserID: user.UserID, UserName: user.Email, Connection: conn.Name, ClientID: t.ClientID,
	})
	s.log.Info("admin ticket created", zap.String("actor", a.Name), zap.String("connection", conn.Name))
	return &IssuedTicket{URL: s.ticketURL(token), ExpiresAt: t.ExpiresAt, Lifetime: ttl, LifetimeText: lifetimeWords(ttl), UserID: user.UserID, Email: user.Email}, nil
}

func allowedList(c *Client) string {
	var out string
	for i, a := range c.AllowedURLs {
		if i > 0 {
			out += ", "
		}
		out += a.String()
	}
	return out
}

// databaseConnection returns the named database connection, or an AdminError.
func (s *Service) databaseConnection(name string) (*Connection, error) {
	conn, ok := s.cfg.Connections[name]
	if !ok {
		return nil, adminErr(400, "invalid_body", "Connection does not exist: %s", name)
	}
	if conn.Kind != connection.Database {
		return nil, adminErr(400, "operation_not_supported",
			"%s is a %s connection: its users have no password here", name, conn.Kind)
	}
	return conn, nil
}

// findAdminUser looks a user up by id (in connName, or in every database
// connection when it is empty) or by email in connName. A user id found in more
// than one connection is refused as ambiguous: two apps may use the same ids,
// and guessing would act on another app's user.
func (s *Service) findAdminUser(ctx context.Context, userID, connName, email string) (*Connection, *connection.User, error) {
	conns, err := s.adminConnections(connName)
	if err != nil {
		return nil, nil, err
	}
	if email != "" {
		norm, err := normalizeEmail(email)
		if err != nil {
			return nil, nil, adminErr(400, "invalid_body", "%s", err.(*RequestError).Description)
		}
		email = norm
	}
	var foundConn *Connection
	var found *connection.User
	for _, conn := range conns {
		user, err := s.adminLookup(ctx, conn, userID, email)
		switch {
		case errors.Is(err, connection.ErrUserNotFound):
			continue
		case err != nil:
			s.log.Error("get_user hook failed", zap.String("connection", conn.Name), zap.Error(err))
			return nil, nil, adminErr(503, "temporarily_unavailable", "The app behind connection %s did not answer the user lookup; nothing was changed. Try again shortly.", conn.Name)
		case found != nil:
			return nil, nil, adminErr(400, "ambiguous_user",
				"User %s exists in connections %s and %s: name the connection", userID, foundConn.Name, conn.Name)
		}
		foundConn, found = conn, user
	}
	if found == nil {
		return nil, nil, errNoUser
	}
	return foundConn, found, nil
}

// adminConnections returns the named database connection, or all of them,
// sorted by name, when name is empty.
func (s *Service) adminConnections(name string) ([]*Connection, error) {
	if name != "" {
		conn, err := s.databaseConnection(name)
		if err != nil {
			return nil, err
		}
		return []*Connection{conn}, nil
	}
	var conns []*Connection
	for _, n := range s.DatabaseConnections() {
		conns = append(conns, s.cfg.Connections[n])
	}
	return conns, nil
}

// adminLookup finds a user by email, or else by id, in conn.
func (s *Service) adminLookup(ctx context.Context, conn *Connection, userID, email string) (*connection.User, error) {
	if email != "" {
		return conn.Users.LookupUser(ctx, email)
	}
	byID, ok := conn.Users.(connection.IDDirectory)
	if !ok {
		return nil, connection.ErrUserNotFound
	}
	return byID.LookupUserByID(ctx, userID)
}

// SetPassword sets a user's password by hand (Auth0's PATCH /api/v2/users/{id}
// with a password): the connection's policy applies, the app's change_password
// hook is called with reason "admin" and asked to end the user's sessions, the
// user's open tickets are cancelled, and the user is not notified. connName may be
// empty when the user is found in the only database connection. Errors are
// *AdminError or ErrUnavailable.
func (s *Service) SetPassword(ctx context.Context, a Actor, userID, connName, password string) (*connection.User, string, error) {
	if userID == "" {
		return nil, "", adminErr(400, "invalid_uri", "user id is required")
	}
	if password == "" {
		return nil, "", adminErr(400, "invalid_body", "Payload validation error: password must not be empty")
	}
	if connName != "" {
		if _, err := s.databaseConnection(connName); err != nil {
			return nil, "", err
		}
	} else if names := s.DatabaseConnections(); len(names) > 1 {
		// A user id is the app's; two apps may use the same ids. Guessing would
		// send one user's new password to another app.
		return nil, "", adminErr(400, "invalid_body",
			"Payload validation error: connection is required when several database connections are configured (%s)", strings.Join(names, ", "))
	}
	conn, user, err := s.findAdminUser(ctx, userID, connName, "")
	if err != nil {
		return nil, "", err
	}
	// The whole policy, as for a reset: strength, personal data, history.
	err = conn.Policy.CheckFor(password, policy.UserInfo{Email: user.Email, Name: user.Name, Nickname: user.Nickname,
		GivenName: user.GivenName, FamilyName: user.FamilyName})
	if err == nil {
		err = s.checkHistory(ctx, conn.Policy, conn.Name, user.UserID, password)
	}
	if err != nil {
		var pe *policy.Error
		switch {
		case errors.As(err, &pe):
			return nil, "", adminErr(400, "invalid_password", "%s: %s", pe.Name, pe.Message)
		case errors.Is(err, ErrUnavailable):
			return nil, "", err
		}
		return nil, "", adminErr(400, "invalid_password", "The password cannot be used: %v", err)
	}
	hist, err := s.historyUpdate(ctx, conn.Policy, password)
	if err != nil {
		return nil, "", err
	}
	// Once the hook is called its outcome is recorded whatever the client does.
	ctx = context.WithoutCancel(ctx)
	err = conn.Users.ChangePassword(ctx, connection.ChangeRequest{
		UserID: user.UserID, Email: user.Email, Password: password, Reason: hook.ReasonAdmin, EndSessions: true,
	})
	var refused *connection.RefusedError
	confirmed := true
	switch {
	case errors.Is(err, connection.ErrUserNotFound):
		return nil, "", errNoUser
	case errors.As(err, &refused):
		return nil, "", adminErr(400, "password_refused", "The app refused the password: %s", refused.Message)
	case errors.Is(err, connection.ErrOutcomeUnknown):
		// The password may have changed: record it as if it had, and say so.
		s.log.Error("change_password hook gave no valid answer", zap.String("connection", conn.Name), zap.Error(err))
		confirmed = false
	case err != nil:
		s.log.Error("change_password hook failed", zap.String("connection", conn.Name), zap.Error(err))
		return nil, "", adminErr(503, "temporarily_unavailable", "The app behind connection %s did not set the password; try again shortly.", conn.Name)
	}
	s.recordPasswordSet(ctx, a, conn, user, hist, confirmed)
	if !confirmed {
		return nil, "", adminErr(504, "password_unconfirmed",
			"The app behind connection %s did not confirm the change (no valid answer): the password may have changed. The user's open reset links were cancelled.", conn.Name)
	}
	return user, conn.Name, nil
}

// recordPasswordSet cancels the user's open tickets, records the password in the
// history and writes the audit entry, in one transaction: after the app's hook
// was called, whatever it answered.
func (s *Service) recordPasswordSet(ctx context.Context, a Actor, conn *Connection, user *connection.User, hist *historyEntry, confirmed bool) {
	entry := AuditEntry{
		Type: AuditPasswordSet, Description: "Password set by an admin; the user was not notified",
		Actor: a.Name, IP: a.IP, UserID: user.UserID, UserName: user.Email, Connection: conn.Name,
	}
	if !confirmed {
		entry.Description += "; the app did not confirm the change (no valid answer)"
	}
	err := storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if err := closeUserTickets(tx, conn.Name, user.UserID, TicketCancelled, s.now()); err != nil {
			return err
		}
		if err := putHistory(tx, conn.Name, user.UserID, hist, conn.Policy.History); err != nil {
			return err
		}
		return s.putAudit(tx, entry)
	})
	if err != nil {
		// The password did change; an older link stays usable until it expires.
		s.log.Error("password set but the user's open ticket not cancelled", zap.Error(err))
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
	User       *connection.User
	Connection *Connection
	OpenTicket *OpenTicketInfo // nil when the user has no usable ticket
}

// FindUser looks a user up by email in a database connection, with the user's open
// ticket. Errors are *AdminError or ErrUnavailable.
func (s *Service) FindUser(ctx context.Context, connName, email string) (*UserInfo, error) {
	if _, err := s.databaseConnection(connName); err != nil {
		return nil, err
	}
	conn, user, err := s.findAdminUser(ctx, "", connName, email)
	if err != nil {
		return nil, err
	}
	info := &UserInfo{User: user, Connection: conn}
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		key, err := tx.Get(userTicketKey(conn.Name, user.UserID))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		t, err := getTicket(tx, string(key))
		if errors.Is(err, ErrTicketInvalid) {
			return nil
		}
		if err != nil {
			return err
		}
		if t.usable(s.now()) == nil {
			info.OpenTicket = &OpenTicketInfo{Source: t.Source, ClientID: t.ClientID, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt}
		}
		return nil
	})
	if err != nil {
		return nil, s.storeErr("read the user's ticket", err)
	}
	return info, nil
}

// SendResetEmail has a reset email sent to a user, as if they had asked for it
// (the admin's own address is not rate-limited). Errors are *AdminError,
// *RequestError or ErrUnavailable.
func (s *Service) SendResetEmail(ctx context.Context, a Actor, connName, email, clientID string) error {
	_, err := s.RequestReset(ctx, Request{ClientID: clientID, Email: email, Connection: connName, IP: a.IP, Admin: true})
	if err != nil {
		return err
	}
	s.auditAdmin(ctx, a, AuditEntry{
		Type: AuditResetRequested, Description: "Reset email requested by an admin",
		UserName: email, Connection: connName, ClientID: clientID,
	})
	return nil
}

// DatabaseConnections returns the names of the database connections, sorted.
func (s *Service) DatabaseConnections() []string {
	var names []string
	for name, c := range s.cfg.Connections {
		if c.Kind == connection.Database {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// ClientIDs returns the declared clients' ids, sorted, and the default one.
func (s *Service) ClientIDs() (ids []string, def string) {
	for id := range s.cfg.Clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, s.cfg.DefaultClient
}
