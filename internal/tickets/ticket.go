// Package tickets is the reset ticket: the secret in a reset link, the record the
// store keeps of it, its states and every transition between them, each done
// inside the caller's store transaction.
//
//	open      --Claim-->        claimed  (a submit holds it while the app's hook runs)
//	claimed   --Release-->      open     (the app said it did not change the password)
//	claimed   --Finish-->       used     (the password changed, or may have)
//	open      --Close, Issue--> cancelled (a newer ticket, "this wasn't me", the
//	                                      account changed, the app revoked it)
//	open      --time-->         expired
//
// used, cancelled and expired are final. A claim that its submit never released
// (the process died) runs out by itself.
package tickets

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

// A ticket is 256 bits from crypto/rand, written as 43 characters of unpadded
// base64url. Only its SHA-256 is stored: at 256 bits a plain hash is enough
// (ASVS 5 6.5.2), and a copy of the store does not yield usable links.
const (
	tokenBytes    = 32
	tokenLen      = 43 // base64.RawURLEncoding.EncodedLen(tokenBytes)
	keyPrefix     = "tk/"
	userIdxPrefix = "tku/"

	// retain keeps a closed or expired ticket's record a while, so that
	// following its link says "already used" or "expired" rather than
	// "invalid".
	retain = 7 * 24 * time.Hour

	// ClaimFor bounds how long a submit holds a ticket while the app's hook
	// runs. It outlives the longest hook call the configuration allows (30 s)
	// with room for the commits around it, so that a slow hook cannot see a
	// second submit claim the same ticket.
	ClaimFor = time.Minute
)

// State is where a ticket stands.
type State string

// The states. Open, Used and Cancelled are stored; Claimed and Expired are
// what an open ticket is while a submit holds it and once its time is up.
const (
	Open      State = "open"
	Claimed   State = "claimed"
	Used      State = "used"
	Cancelled State = "cancelled"
	Expired   State = "expired"
)

// Source says who made a ticket.
const (
	FromEmail = "email" // a user asked for a reset link
	FromAdmin = "admin" // an admin created a ticket (no email)
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
	Nickname     string    `json:"nickname,omitempty"`
	GivenName    string    `json:"given_name,omitempty"`
	FamilyName   string    `json:"family_name,omitempty"`
	ResultURL    string    `json:"result_url,omitempty"`
	IncludeEmail bool      `json:"include_email"`
	Source       string    `json:"source"` // FromEmail or FromAdmin
	IssuedAt     time.Time `json:"issued_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	State        State     `json:"state"` // Open, Used or Cancelled
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	ClosedAt     time.Time `json:"closed_at,omitzero"`

	// MarkEmailVerified and Organization come with an admin ticket (Auth0's
	// mark_email_as_verified and organization_id).
	MarkEmailVerified bool   `json:"mark_email_verified,omitempty"`
	Organization      string `json:"organization_id,omitempty"`

	// Reason says why a closed ticket closed, when there is more to say than
	// its state: the code of the error a ticket cancelled because the account
	// changed returns, or Unconfirmed for a used ticket whose change_password
	// call gave no valid answer.
	Reason string `json:"reason,omitempty"`

	// Language is the language the reset page speaks (Languages.Choose): an
	// emailed ticket's is its email's; an admin ticket's is the user's own, if
	// the app gave one.
	Language string `json:"language,omitempty"`
}

// ReasonUnconfirmed marks a used ticket whose change_password call gave no valid
// answer: the password may have changed.
const ReasonUnconfirmed = "unconfirmed"

// StateAt is where t stands at now.
func (t *Ticket) StateAt(now time.Time) State {
	switch {
	case t.State != Open:
		return t.State
	case !now.Before(t.ExpiresAt):
		return Expired
	case now.Before(t.ClaimedUntil):
		return Claimed
	}
	return Open
}

// Usable returns nil if t can be claimed at now, or the error that says why not.
func (t *Ticket) Usable(now time.Time) error {
	switch t.StateAt(now) {
	case Used:
		return ErrUsed
	case Cancelled:
		if why, ok := accountReasons[t.Reason]; ok {
			return why
		}
		return ErrSuperseded
	case Expired:
		return ErrExpired
	case Claimed:
		return ErrBusy
	}
	return nil
}

// New returns a fresh ticket and the store key of its hash.
func New() (token, key string) {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, Key(token)
}

// Key is the store key of token: its SHA-256.
func Key(token string) string {
	sum := sha256.Sum256([]byte(token))
	return keyPrefix + hex.EncodeToString(sum[:])
}

// Parse checks a ticket's shape before it costs a store lookup and returns its
// store key. A malformed ticket is simply invalid.
func Parse(token string) (key string, err error) {
	if len(token) != tokenLen {
		return "", ErrInvalid
	}
	// The decoder skips CR and LF even in strict mode: check the alphabet first.
	if strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return "", ErrInvalid
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return "", ErrInvalid
	}
	return Key(token), nil
}

// Ref is a ticket's reference: the hex SHA-256 that names it in the store, in the
// email's "this wasn't me" link and in the reset form. It cannot be turned back
// into the ticket, so it resets nothing.
func Ref(token string) string { return strings.TrimPrefix(Key(token), keyPrefix) }

// ParseRef returns the store key a reference names.
func ParseRef(ref string) (string, error) {
	if len(ref) != 64 || strings.Trim(ref, "0123456789abcdef") != "" {
		return "", ErrInvalid
	}
	return keyPrefix + ref, nil
}

// userKey holds the store key of the user's open ticket. A user has at most one:
// a new ticket cancels the older. Writers Get and Set this one key, so two
// transactions issuing tickets for the same user at once conflict, and one
// retries and cancels the other's ticket (a prefix scan would not see a key the
// other transaction inserted). The user is hashed so that any user id makes a
// fixed-shape key.
func userKey(conn, userID string) string {
	sum := sha256.Sum256([]byte(conn + "\x00" + userID))
	return userIdxPrefix + hex.EncodeToString(sum[:16])
}

// Get reads the ticket under key; ErrInvalid if there is none.
func Get(tx storage.Tx, key string) (*Ticket, error) {
	data, err := tx.Get(key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalid
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

func put(tx storage.Tx, key string, t *Ticket, now time.Time) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode ticket: %w", err)
	}
	return tx.Set(key, data, t.ExpiresAt.Sub(now)+retain)
}

// UserTicket returns the user's open ticket, nil if there is none.
func UserTicket(tx storage.Tx, conn, userID string, now time.Time) (*Ticket, error) {
	key, err := tx.Get(userKey(conn, userID))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, err := Get(tx, string(key))
	switch {
	case errors.Is(err, ErrInvalid):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if st := t.StateAt(now); st != Open && st != Claimed {
		return nil, nil
	}
	return t, nil
}
