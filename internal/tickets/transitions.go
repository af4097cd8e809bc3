package tickets

import (
	"errors"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Issue stores t under key as the user's only open ticket, cancelling the user's
// older one.
func Issue(tx storage.Tx, key string, t *Ticket, now time.Time) error {
	if err := CloseUser(tx, t.Connection, t.UserID, "", now); err != nil {
		return err
	}
	t.State, t.IssuedAt = Open, now
	if err := put(tx, key, t, now); err != nil {
		return err
	}
	return tx.Set(userKey(t.Connection, t.UserID), []byte(key), t.ExpiresAt.Sub(now)+time.Minute)
}

// Claim takes the open ticket under key for one submit, for ClaimFor. A ticket
// another submit holds is ErrBusy; a concurrent claim loses with the store's
// conflict, which the caller reports as ErrBusy too.
func Claim(tx storage.Tx, key string, now time.Time) (*Ticket, error) {
	t, err := Get(tx, key)
	if err != nil {
		return nil, err
	}
	if err := t.Usable(now); err != nil {
		return nil, err
	}
	t.ClaimedUntil = now.Add(ClaimFor)
	return t, put(tx, key, t, now)
}

// Release gives back the claim of a submit whose password did not change, if
// the ticket is still under that claim.
func Release(tx storage.Tx, key string, claimed *Ticket, now time.Time) error {
	t, err := Get(tx, key)
	if err != nil || !t.ClaimedUntil.Equal(claimed.ClaimedUntil) {
		return err
	}
	t.ClaimedUntil = time.Time{}
	return put(tx, key, t, now)
}

// Finish closes a claimed ticket as used, and the user's other open ticket with
// it. An unconfirmed finish (the app gave no valid answer) is marked so.
func Finish(tx storage.Tx, key string, claimed *Ticket, unconfirmed bool, now time.Time) error {
	t, err := Get(tx, key)
	if err != nil {
		return err
	}
	t.State, t.ClosedAt, t.ClaimedUntil = Used, now, time.Time{}
	if unconfirmed {
		t.Reason = ReasonUnconfirmed
	}
	if err := put(tx, key, t, now); err != nil {
		return err
	}
	return CloseUser(tx, claimed.Connection, claimed.UserID, "", now)
}

// Close cancels the open ticket under key, with reason (a code of
// accountReasons, or "" when a newer ticket or a password change replaced it).
// A ticket that is gone or already closed is left as it is.
func Close(tx storage.Tx, key, reason string, now time.Time) error {
	t, err := Get(tx, key)
	if errors.Is(err, ErrInvalid) {
		return nil // expired and cleaned up
	}
	if err != nil || t.State != Open {
		return err
	}
	t.State, t.ClosedAt, t.ClaimedUntil, t.Reason = Cancelled, now, time.Time{}, reason
	return put(tx, key, t, now)
}

// CloseUser cancels the user's open ticket, if any, with reason, and reports
// nothing: a user without one is not an error.
func CloseUser(tx storage.Tx, conn, userID, reason string, now time.Time) error {
	_, err := CloseUserTicket(tx, conn, userID, reason, now)
	return err
}

// CloseUserTicket is CloseUser that says whether the user had an open ticket.
func CloseUserTicket(tx storage.Tx, conn, userID, reason string, now time.Time) (bool, error) {
	idx := userKey(conn, userID)
	key, err := tx.Get(idx)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := Close(tx, string(key), reason, now); err != nil {
		return false, err
	}
	return true, tx.Delete(idx)
}

// Cancel cancels the ticket under key with reason, as its recipient or the
// account's change asks, and removes it as the user's open ticket. It returns
// the ticket, or why it could not be cancelled (already used, expired, ...).
func Cancel(tx storage.Tx, key, reason string, now time.Time) (*Ticket, error) {
	t, err := Get(tx, key)
	if err != nil {
		return nil, err
	}
	if err := t.Usable(now); err != nil && !errors.Is(err, ErrBusy) {
		return nil, err
	}
	if err := Close(tx, key, reason, now); err != nil {
		return nil, err
	}
	return t, tx.Delete(userKey(t.Connection, t.UserID))
}
