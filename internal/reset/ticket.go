package reset

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// A ticket is the secret in a reset link. It is 256 bits from crypto/rand, written
// as 43 characters of unpadded base64url. Only its SHA-256 is stored: a copy of the
// store does not yield usable links, and at 256 bits a plain hash is enough (ASVS 5
// 6.5.2).
const (
	ticketBytes   = 32
	ticketLen     = 43 // base64.RawURLEncoding.EncodedLen(ticketBytes)
	ticketPrefix  = "tk/"
	userIdxPrefix = "tku/"

	// retainUsed keeps a used or expired ticket's record a while after it died, so
	// that following its link says "already used" or "expired" rather than
	// "invalid".
	retainUsed = 7 * 24 * time.Hour

	// claimFor bounds how long a submit holds a ticket while the app's hook runs.
	// If the process dies meanwhile, the ticket becomes usable again after it.
	// It outlives the longest hook call (connection.MaxTimeout, 30s) with room
	// for the commits around it, so that a slow hook cannot see a second submit
	// claim the same ticket.
	claimFor = time.Minute
)

// TicketState is where a ticket stands.
type TicketState string

// Ticket states.
const (
	TicketOpen      TicketState = "open"
	TicketUsed      TicketState = "used"
	TicketCancelled TicketState = "cancelled"
)

// Ticket is what the store keeps for one reset link.
type Ticket struct {
	Connection string `json:"connection"`
	ClientID   string `json:"client_id"`
	UserID     string `json:"user_id"`
	Email      string `json:"email"`
	Name       string `json:"name,omitempty"`
	// The rest of the profile the app returned, for the policy's personal-data
	// check.
	Nickname     string      `json:"nickname,omitempty"`
	GivenName    string      `json:"given_name,omitempty"`
	FamilyName   string      `json:"family_name,omitempty"`
	ResultURL    string      `json:"result_url,omitempty"`
	IncludeEmail bool        `json:"include_email"`
	Source       string      `json:"source"` // "email" or "admin"
	IssuedAt     time.Time   `json:"issued_at"`
	ExpiresAt    time.Time   `json:"expires_at"`
	State        TicketState `json:"state"`
	ClaimedUntil time.Time   `json:"claimed_until,omitzero"`
	ClosedAt     time.Time   `json:"closed_at,omitzero"`

	// MarkEmailVerified and Organization come with an admin ticket (Auth0's
	// mark_email_as_verified and organization_id).
	MarkEmailVerified bool   `json:"mark_email_verified,omitempty"`
	Organization      string `json:"organization_id,omitempty"`

	// Reason says why a closed ticket closed, when there is more to say than
	// its state: the TicketError kind of a ticket cancelled because the
	// account changed ("account_blocked", ...), or "unconfirmed" for a used
	// ticket whose change_password call gave no valid answer.
	Reason string `json:"reason,omitempty"`
}

// newTicketToken returns a fresh ticket and the store key of its hash.
func newTicketToken() (token, key string) {
	b := make([]byte, ticketBytes)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, ticketKey(token)
}

func ticketKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return ticketPrefix + hex.EncodeToString(sum[:])
}

// parseTicket checks a ticket's shape before it costs a store lookup. A malformed
// ticket is simply invalid.
func parseTicket(token string) (key string, err error) {
	if len(token) != ticketLen {
		return "", ErrTicketInvalid
	}
	// The decoder skips CR and LF even in strict mode: check the alphabet first.
	if strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return "", ErrTicketInvalid
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return "", ErrTicketInvalid
	}
	return ticketKey(token), nil
}

// userTicketKey holds the store key of the user's open ticket. A user has at most
// one: a new ticket cancels the older. Writers Get and Set this one key, so two
// transactions issuing tickets for the same user at once conflict, and one
// retries and cancels the other's ticket (a prefix scan would not see a key the
// other transaction inserted). The user is hashed so that any user id makes a
// fixed-shape key.
func userTicketKey(conn, userID string) string {
	sum := sha256.Sum256([]byte(conn + "\x00" + userID))
	return userIdxPrefix + hex.EncodeToString(sum[:16])
}

func getTicket(tx storage.Tx, key string) (*Ticket, error) {
	data, err := tx.Get(key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrTicketInvalid
	}
	if err != nil {
		return nil, err
	}
	var t Ticket
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decode ticket: %w", err)
	}
	return &t, nil
}

func putTicket(tx storage.Tx, key string, t *Ticket, now time.Time) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode ticket: %w", err)
	}
	return tx.Set(key, data, t.ExpiresAt.Sub(now)+retainUsed)
}

// usable returns nil if t can be used at now, or the TicketError that says why not.
func (t *Ticket) usable(now time.Time) error {
	switch {
	case t.State == TicketUsed:
		return ErrTicketUsed
	case t.State == TicketCancelled:
		if why, ok := accountReasons[t.Reason]; ok {
			return why
		}
		return ErrTicketSuperseded
	case !now.Before(t.ExpiresAt):
		return ErrTicketExpired
	}
	return nil
}

// issueTicket stores t under key as the user's only open ticket: it cancels the
// user's older ticket in the same transaction.
func issueTicket(tx storage.Tx, key string, t *Ticket, now time.Time) error {
	if err := closeUserTickets(tx, t.Connection, t.UserID, TicketCancelled, now); err != nil {
		return err
	}
	t.State, t.IssuedAt = TicketOpen, now
	if err := putTicket(tx, key, t, now); err != nil {
		return err
	}
	return tx.Set(userTicketKey(t.Connection, t.UserID), []byte(key), t.ExpiresAt.Sub(now)+time.Minute)
}

// closeUserTickets moves the user's open ticket, if any, to state.
func closeUserTickets(tx storage.Tx, conn, userID string, state TicketState, now time.Time) error {
	idx := userTicketKey(conn, userID)
	key, err := tx.Get(idx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the user's open ticket: %w", err)
	}
	if err := closeTicket(tx, string(key), state, now); err != nil {
		return err
	}
	return tx.Delete(idx)
}

func closeTicket(tx storage.Tx, key string, state TicketState, now time.Time) error {
	return closeTicketWithReason(tx, key, state, "", now)
}

// closeTicketWithReason closes an open ticket, saying why. A ticket that is
// gone or already closed is left as it is.
func closeTicketWithReason(tx storage.Tx, key string, state TicketState, reason string, now time.Time) error {
	t, err := getTicket(tx, key)
	if errors.Is(err, ErrTicketInvalid) {
		return nil // expired and cleaned up
	}
	if err != nil || t.State != TicketOpen {
		return err
	}
	t.State, t.ClosedAt, t.ClaimedUntil, t.Reason = state, now, time.Time{}, reason
	return putTicket(tx, key, t, now)
}

// randomText returns n (at most 26) random base32 characters.
func randomText(n int) string { return rand.Text()[:n] }
