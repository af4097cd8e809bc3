package reset

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// AuditTicketsRevoked records the app's revoke_tickets call: the user's password
// changed inside the app, so the plugin cancelled the user's open reset links.
const AuditTicketsRevoked = "tickets_revoked"

// Inbound returns the named database connection's verifier of the app's calls
// to the plugin (hook.RevokeTickets), signed with the connection's hook secret.
// It returns a *RequestError for an unknown connection, one without passwords,
// or one whose directory takes no calls.
func (s *Service) Inbound(conn string) (connection.Inbound, error) {
	if err := s.checkConnection(conn); err != nil {
		return nil, err
	}
	in, ok := s.cfg.Connections[conn].Users.(connection.Inbound)
	if !ok {
		return nil, &RequestError{Status: 400, Code: "bad.connection",
			Description: "connection " + conn + " takes no calls from the app"}
	}
	return in, nil
}

// RevokeTickets cancels the user's open reset link (emailed or an admin ticket),
// in one transaction, and records it in the audit log with actor "app". The app
// calls it after the user's password changed inside the app: a link sent before
// must not set the password back. A user without an open link is not an error.
// Errors are *RequestError or ErrUnavailable.
func (s *Service) RevokeTickets(ctx context.Context, conn, userID string) error {
	if err := s.checkConnection(conn); err != nil {
		return err
	}
	if userID == "" {
		return badRequest("user_id is required")
	}
	var had bool
	err := storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		_, err := tx.Get(userTicketKey(conn, userID))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		had = err == nil
		return closeUserTickets(tx, conn, userID, TicketCancelled, s.now())
	})
	if err != nil {
		return s.storeErr("revoke tickets", err)
	}
	s.log.Info("reset links revoked by the app", zap.String("connection", conn), zap.Bool("had_open_link", had))
	desc := "The app revoked the user's reset links (the password changed in the app); none was open"
	if had {
		desc = "The app revoked the user's open reset link (the password changed in the app)"
	}
	s.audit(ctx, AuditEntry{Type: AuditTicketsRevoked, Description: desc, Actor: "app", UserID: userID, Connection: conn})
	return nil
}
