package admin

import (
	"context"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

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
// emailed one, and cancels the user's older ones.
func (s *Service) CreateTicket(ctx context.Context, a Actor, req TicketRequest) (*IssuedTicket, error) {
	if err := checkTicketRequest(req); err != nil {
		return nil, err
	}
	client, err := s.ticketClient(req)
	if err != nil {
		return nil, err
	}
	conn, user, err := s.findUser(ctx, req.UserID, req.ConnectionID, req.Email)
	if err != nil {
		return nil, err
	}
	if user.Blocked {
		return nil, fail(fault.Invalid, "operation_not_supported", "The user is blocked: a blocked user cannot reset a password.")
	}
	tpl, err := s.cfg.Templates.Current(ctx, templates.ResetEmail)
	if err != nil {
		return nil, s.storeErr("read reset_email template", err)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = tpl.Template.URLLifetime()
	}
	include := tpl.Template.IncludeEmailInRedirect
	if req.IncludeEmailInRedirect != nil {
		include = *req.IncludeEmailInRedirect
	}
	clientResult := ""
	clientID := ""
	if client != nil {
		clientResult, clientID = client.ResultURL, client.ID
	}
	now := s.now()
	token, key := tickets.New()
	t := &tickets.Ticket{
		Connection: conn.Name, ClientID: clientID, UserID: user.UserID, Email: user.Email, Name: user.Name,
		ResultURL:    reset.FirstNonEmpty(req.ResultURL, tpl.Template.ResultURL, clientResult),
		IncludeEmail: include, Source: tickets.FromAdmin, ExpiresAt: now.Add(ttl),
		MarkEmailVerified: req.MarkEmailAsVerified, Organization: req.OrganizationID,
	}
	if lang, ok := s.site.Langs().Match(user.Language); ok {
		t.Language = lang.Tag() // else the page follows the browser of whoever opens it
	}
	err = storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if err := tickets.Issue(tx, key, t, now); err != nil {
			return err
		}
		return s.cfg.Audit.Put(tx, audit.Entry{
			Type: audit.TicketCreated, Description: "Password-change ticket created, valid for " + lifetimeWords(ttl),
			UserID: user.UserID, UserName: user.Email, Connection: conn.Name, ClientID: t.ClientID,
		}.By(a))
	})
	if err != nil {
		return nil, s.storeErr("issue admin ticket", err)
	}
	s.cfg.Flow.NoteTicket(reset.TicketIssued)
	s.log.Info("admin ticket created", "actor", a.Name, "connection", conn.Name)
	return &IssuedTicket{URL: s.site.TicketURL(token), ExpiresAt: t.ExpiresAt, Lifetime: ttl,
		LifetimeText: lifetimeWords(ttl), UserID: user.UserID, Email: user.Email}, nil
}

func checkTicketRequest(req TicketRequest) error {
	switch {
	case req.UserID != "" && (req.Email != "" || req.ConnectionID != ""):
		return invalid("user_id cannot be used with email or connection_id")
	case req.Email != "" && req.ConnectionID == "":
		return invalid("Payload validation error: 'Missing required property: connection_id' (email needs connection_id)")
	case req.ConnectionID != "" && req.Email == "":
		return invalid("Payload validation error: 'Missing required property: email' (connection_id needs email)")
	case req.UserID == "" && req.Email == "":
		return invalid("Payload validation error: one of user_id, or email with connection_id, is required")
	case req.ResultURL != "" && req.OrganizationID != "":
		return invalid("result_url cannot be used with organization_id")
	case req.TTL < 0 || req.TTL > MaxTicketTTL:
		return invalid("ttl_sec must be between 0 (the template's URL lifetime) and %d", int(MaxTicketTTL/time.Second))
	}
	return nil
}

// ticketClient returns the client a ticket is for, checking its result URL
// against the client's allow list.
func (s *Service) ticketClient(req TicketRequest) (*reset.Client, error) {
	client, ok := s.site.Client(req.ClientID)
	if req.ClientID != "" && !ok {
		return nil, invalid("Unknown client: %s", req.ClientID)
	}
	if req.ResultURL == "" {
		return client, nil
	}
	if client == nil {
		return nil, invalid("result_url needs a client: declare one with its allowed_urls")
	}
	if err := client.CheckResultURL(req.ResultURL); err != nil {
		return nil, invalid("%v (allowed for client %s: %s)", err, client.ID, client.AllowedList())
	}
	return client, nil
}
