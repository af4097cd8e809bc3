package reset

import (
	"context"
	"errors"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// TicketRef returns the reference of a ticket: the hex SHA-256 that names it in
// the store and in the email's "this wasn't me" link. It is not a secret that
// can reset a password, so a page may carry it where it cannot carry the
// ticket: the reset form keeps it in a hidden field, so that a submit that
// arrives after the ticket's cookie is gone can still be told why the link no
// longer works.
func TicketRef(token string) string { return cancelID(token) }

// RefInfo is what a ticket's reference tells a page: the application, for its
// name and a link to ask for a new email.
type RefInfo struct {
	Connection, ClientID, AppName string
}

// LookupRef reads the ticket ref names (see TicketRef) and changes nothing. It
// returns the ticket's context with nil while the ticket can still be used, or
// with its *TicketError (ErrTicketUsed, ErrTicketExpired, ErrTicketSuperseded)
// when it cannot; a ref that names no ticket is ErrTicketInvalid with no
// context, and a store failure ErrUnavailable.
func (s *Service) LookupRef(ctx context.Context, ref string) (*RefInfo, error) {
	key, err := parseCancelID(ref)
	if err != nil {
		return nil, err
	}
	var t *Ticket
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		t, err = getTicket(tx, key)
		return err
	})
	var te *TicketError
	switch {
	case errors.As(err, &te):
		return nil, err
	case err != nil:
		return nil, s.storeErr("read ticket by reference", err)
	}
	client, _ := s.Client(t.ClientID)
	info := &RefInfo{Connection: t.Connection, ClientID: t.ClientID, AppName: s.appName(client)}
	return info, t.usable(s.now())
}
