package reset

import (
	"context"
	"errors"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// The "this wasn't me" link names the ticket by its reference (TicketRef), not by
// the ticket itself: the cancel page then never holds a secret that could reset
// the password, and the reference cannot be turned back into the ticket.

// TicketRef returns a ticket's reference: the hex SHA-256 that names it in the
// store and in the email's "this wasn't me" link. It is not a secret that can
// reset a password, so a page may carry it where it cannot carry the ticket: the
// reset form keeps it in a hidden field, so that a submit that arrives after the
// ticket's cookie is gone can still be told why the link no longer works.
func TicketRef(token string) string { return tickets.Ref(token) }

// RefInfo is what a ticket's reference tells a page: the application, for its
// name and a link to ask for a new email.
type RefInfo struct {
	Connection, ClientID, AppName string
	// Language is the ticket's language ("" for none).
	Language string
}

// LookupRef reads the ticket ref names and changes nothing. It returns the
// ticket's context with nil while the ticket can still be used, or with the
// tickets' error that says why it cannot; a ref that names no ticket is
// ErrTicketInvalid with no context, and a store failure ErrUnavailable.
func (s *Service) LookupRef(ctx context.Context, ref string) (*RefInfo, error) {
	key, err := tickets.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	t, err := s.readTicketKey(ctx, key)
	if err != nil {
		return nil, err
	}
	client, _ := s.site.Client(t.ClientID)
	info := &RefInfo{Connection: t.Connection, ClientID: t.ClientID, AppName: s.site.AppName(client), Language: t.Language}
	return info, t.Usable(s.now())
}

// CheckCancel reports whether the ticket a cancel link names can still be
// cancelled, without changing anything (mail scanners open links).
func (s *Service) CheckCancel(ctx context.Context, ref string) error {
	key, err := tickets.ParseRef(ref)
	if err != nil {
		return err
	}
	t, err := s.readTicketKey(ctx, key)
	if err != nil {
		return err
	}
	if err := t.Usable(s.now()); err != nil && !errors.Is(err, ErrTicketBusy) {
		return err
	}
	return nil
}

// CancelTicket is the reset email's "this wasn't me" link: it cancels an open
// ticket, so that whoever asked for it cannot use it, and records who did it from
// where, in one transaction. Cancelling a ticket that is already cancelled or
// used says why, and changes nothing. Errors are the tickets' or ErrUnavailable.
func (s *Service) CancelTicket(ctx context.Context, ref, ip string) error {
	key, err := tickets.ParseRef(ref)
	if err != nil {
		return err
	}
	var t *tickets.Ticket
	err = storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if t, err = tickets.Cancel(tx, key, "", s.now()); err != nil {
			return err
		}
		return s.cfg.Audit.Put(tx, audit.Entry{Type: audit.ResetCancelled,
			Description: "Reset link cancelled from the email (\"this wasn't me\")",
			Actor:       "user", IP: ip, UserID: t.UserID, UserName: t.Email, Connection: t.Connection, ClientID: t.ClientID})
	})
	if _, ok := fault.As(err); ok {
		return err
	}
	if err != nil {
		return s.storeErr("cancel ticket", err)
	}
	s.NoteTicket(TicketCancelled)
	s.emit(ctx, EventTicketCancelled, map[string]any{"connection": t.Connection, "client_id": t.ClientID, "user_id": t.UserID})
	s.log.Info("reset link cancelled by its recipient", "connection", t.Connection)
	return nil
}

// RevokeTickets cancels the user's open reset link (emailed or an admin ticket)
// and records it in the audit log with actor "app", in one transaction. The app
// calls it after the user's password changed inside the app: a link sent before
// must not set the password back. A user without an open link is not an error.
// Errors are Invalid (an unknown connection, no user id) or ErrUnavailable.
func (s *Service) RevokeTickets(ctx context.Context, conn, userID string) error {
	if err := s.checkConnection(conn); err != nil {
		return err
	}
	if userID == "" {
		return badRequest("user_id is required")
	}
	var had bool
	err := storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		var err error
		if had, err = tickets.CloseUserTicket(tx, conn, userID, "", s.now()); err != nil {
			return err
		}
		desc := "The app revoked the user's reset links (the password changed in the app); none was open"
		if had {
			desc = "The app revoked the user's open reset link (the password changed in the app)"
		}
		return s.cfg.Audit.Put(tx, audit.Entry{Type: audit.TicketsRevoked, Description: desc, Actor: "app",
			UserID: userID, Connection: conn})
	})
	if err != nil {
		return s.storeErr("revoke tickets", err)
	}
	s.log.Info("reset links revoked by the app", "connection", conn, "had_open_link", had)
	return nil
}

// CheckConnection refuses a connection name that the request endpoint would:
// unknown, or one without passwords (Invalid, code bad.connection).
func (s *Service) CheckConnection(name string) error { return s.checkConnection(name) }
