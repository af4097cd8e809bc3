package reset

import (
	"context"
	"errors"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// AuditResetCancelled records a user's "this wasn't me": a reset link cancelled
// from the email.
const AuditResetCancelled = "reset_cancelled"

// The "this wasn't me" link names the ticket by its hash (the store key), not by
// the ticket itself: the cancel page then never holds a secret that could reset
// the password, and the hash cannot be turned back into the ticket.
func cancelID(token string) string { return strings.TrimPrefix(ticketKey(token), ticketPrefix) }

func parseCancelID(id string) (string, error) {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", ErrTicketInvalid
	}
	return ticketPrefix + id, nil
}

// CheckCancel reports whether the ticket a cancel link names can still be
// cancelled, without changing anything (mail scanners open links).
func (s *Service) CheckCancel(ctx context.Context, id string) error {
	key, err := parseCancelID(id)
	if err != nil {
		return err
	}
	var t *Ticket
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		t, err = getTicket(tx, key)
		return err
	})
	var te *TicketError
	switch {
	case errors.As(err, &te):
		return err
	case err != nil:
		return s.storeErr("read ticket", err)
	}
	return t.usable(s.now())
}

// CancelTicket is the reset email's "this wasn't me" link: it cancels an open
// ticket, so that whoever asked for it cannot use it, and records who did it from
// where. Errors are *TicketError or ErrUnavailable. Cancelling a ticket that is
// already cancelled or used reports why, and changes nothing.
func (s *Service) CancelTicket(ctx context.Context, id, ip string) error {
	key, err := parseCancelID(id)
	if err != nil {
		return err
	}
	var t *Ticket
	err = storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if t, err = getTicket(tx, key); err != nil {
			return err
		}
		now := s.now()
		if err := t.usable(now); err != nil {
			return err
		}
		if err := closeTicket(tx, key, TicketCancelled, now); err != nil {
			return err
		}
		return tx.Delete(userTicketKey(t.Connection, t.UserID))
	})
	var te *TicketError
	if errors.As(err, &te) {
		return err
	}
	if err != nil {
		return s.storeErr("cancel ticket", err)
	}
	s.log.Info("reset link cancelled by its recipient", zap.String("connection", t.Connection))
	s.audit(ctx, AuditEntry{Type: AuditResetCancelled, Description: "Reset link cancelled from the email (\"this wasn't me\")",
		Actor: "user", IP: ip, UserID: t.UserID, UserName: t.Email, Connection: t.Connection, ClientID: t.ClientID})
	return nil
}
