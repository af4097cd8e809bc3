package reset

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

// A user's password history is the argon2id hashes of their last passwords
// (never the passwords), newest first, kept only for connections whose policy
// sets History. It grows from changes made through the plugin: the app's current
// password is not known until it is changed here.

// historyEntry is one past password.
type historyEntry struct {
	Hash string    `json:"hash"` // passhash PHC string
	At   time.Time `json:"at"`
}

func historyKey(conn, userID string) string {
	sum := sha256.Sum256([]byte(conn + "\x00" + userID))
	return "hist/" + hex.EncodeToString(sum[:16])
}

func (s *Service) readHistory(ctx context.Context, conn, userID string) ([]historyEntry, error) {
	var h []historyEntry
	err := s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		data, err := tx.Get(historyKey(conn, userID))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(data, &h)
	})
	return h, err
}

// checkHistory refuses a password among the user's last size passwords with
// Auth0's PasswordHistoryError. Each comparison is an argon2id hash (about 20 ms);
// the reset form's rate limits bound how often a ticket can make us pay for them.
func (s *Service) checkHistory(ctx context.Context, pol policy.Policy, conn, userID, password string) error {
	if pol.History <= 0 {
		return nil
	}
	h, err := s.readHistory(ctx, conn, userID)
	if err != nil {
		return s.storeErr("read password history", err)
	}
	for _, e := range h[:min(len(h), pol.History)] {
		same, err := passhash.VerifyContext(ctx, e.Hash, password)
		if err != nil {
			return fmt.Errorf("check password history: %w", err)
		}
		if same {
			return policy.HistoryError(pol.History, s.now().Sub(e.At))
		}
	}
	return nil
}

// historyUpdate hashes the new password for the history, before the transaction
// that records it (hashing takes tens of milliseconds). Nil when the policy keeps
// no history.
func (s *Service) historyUpdate(ctx context.Context, pol policy.Policy, password string) (*historyEntry, error) {
	if pol.History <= 0 {
		return nil, nil
	}
	hash, err := passhash.HashContext(ctx, password)
	if err != nil {
		return nil, fmt.Errorf("hash password for history: %w", err)
	}
	return &historyEntry{Hash: hash, At: s.now()}, nil
}

// putHistory adds e to the user's history inside tx, keeping the newest keep.
func putHistory(tx storage.Tx, conn, userID string, e *historyEntry, keep int) error {
	if e == nil {
		return nil
	}
	key := historyKey(conn, userID)
	var h []historyEntry
	data, err := tx.Get(key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &h); err != nil {
			return fmt.Errorf("decode password history: %w", err)
		}
	}
	h = append([]historyEntry{*e}, h...)
	h = h[:min(len(h), keep)]
	out, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return tx.Set(key, out, 0)
}
