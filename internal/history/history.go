// Package history is a user's password history: the argon2id hashes of their
// last passwords (never the passwords), newest first, kept only for connections
// whose policy sets History. It grows from changes made through the plugin: the
// app's current password is not known until it is changed here.
package history

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/passhash"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Entry is one past password.
type Entry struct {
	Hash string    `json:"hash"` // passhash PHC string
	At   time.Time `json:"at"`
}

func key(conn, userID string) string {
	sum := sha256.Sum256([]byte(conn + "\x00" + userID))
	return "hist/" + hex.EncodeToString(sum[:16])
}

func read(tx storage.Tx, conn, userID string) ([]Entry, error) {
	var h []Entry
	data, err := tx.Get(key(conn, userID))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("decode password history: %w", err)
	}
	return h, nil
}

// Check refuses a password among the user's last pol.History passwords with
// Auth0's PasswordHistoryError. Each comparison is an argon2id hash (about 20 ms):
// the caller bounds how often it can be made to pay for them. now dates the
// error's "changed ... ago".
func Check(ctx context.Context, store storage.Store, pol policy.Policy, conn, userID, password string, now time.Time) error {
	if pol.History <= 0 {
		return nil
	}
	var h []Entry
	err := store.View(ctx, func(tx storage.Tx) error {
		var err error
		h, err = read(tx, conn, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("read password history: %w", err)
	}
	for _, e := range h[:min(len(h), pol.History)] {
		same, err := passhash.VerifyContext(ctx, e.Hash, password)
		if err != nil {
			return fmt.Errorf("check password history: %w", err)
		}
		if same {
			return policy.HistoryError(pol.History, now.Sub(e.At))
		}
	}
	return nil
}

// NewEntry hashes a new password for the history, before the transaction that
// records it (hashing takes tens of milliseconds). Nil when the policy keeps no
// history.
func NewEntry(ctx context.Context, pol policy.Policy, password string, now time.Time) (*Entry, error) {
	if pol.History <= 0 {
		return nil, nil
	}
	hash, err := passhash.HashContext(ctx, password)
	if err != nil {
		return nil, fmt.Errorf("hash password for history: %w", err)
	}
	return &Entry{Hash: hash, At: now}, nil
}

// Put adds e (nil: nothing) to the user's history inside tx, keeping the newest
// keep.
func Put(tx storage.Tx, conn, userID string, e *Entry, keep int) error {
	if e == nil {
		return nil
	}
	h, err := read(tx, conn, userID)
	if err != nil {
		return err
	}
	h = append([]Entry{*e}, h...)
	h = h[:min(len(h), keep)]
	out, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return tx.Set(key(conn, userID), out, 0)
}
