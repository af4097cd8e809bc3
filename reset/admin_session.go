package reset

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// AdminSession is a dashboard sign-in. The store keeps it under the hash of its
// id, so a copy of the store does not yield a usable session cookie.
type AdminSession struct {
	// Actor is the admin token's name, for the audit log.
	Actor string `json:"actor"`
	// TokenFingerprint identifies the token signed in with (a hash of its
	// hash): removing the token from the configuration ends its sessions.
	TokenFingerprint string    `json:"token_fingerprint"`
	CSRF             string    `json:"csrf"`
	ExpiresAt        time.Time `json:"expires_at"`
}

const adminSessionPrefix = "adm/sess/"

func adminSessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return adminSessionPrefix + hex.EncodeToString(sum[:])
}

// CreateAdminSession stores a new session for ttl and returns its id (256 random
// bits) for the cookie. It records the sign-in in the audit log.
func (s *Service) CreateAdminSession(ctx context.Context, a Actor, fingerprint string, ttl time.Duration) (string, *AdminSession, error) {
	b := make([]byte, 32)
	rand.Read(b)
	id := hex.EncodeToString(b)
	sess := &AdminSession{Actor: a.Name, TokenFingerprint: fingerprint, CSRF: rand.Text(), ExpiresAt: s.now().Add(ttl)}
	data, err := json.Marshal(sess)
	if err != nil {
		return "", nil, err
	}
	err = s.cfg.Store.Update(ctx, func(tx storage.Tx) error {
		return tx.Set(adminSessionKey(id), data, ttl)
	})
	if err != nil {
		return "", nil, s.storeErr("store admin session", err)
	}
	s.auditAdmin(ctx, a, AuditEntry{Type: AuditAdminLogin, Description: "Signed in to the dashboard"})
	return id, sess, nil
}

// AdminSessionByID returns the session with id, or nil if there is none or it
// expired.
func (s *Service) AdminSessionByID(ctx context.Context, id string) (*AdminSession, error) {
	if len(id) != 64 {
		return nil, nil
	}
	var sess *AdminSession
	err := s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		data, err := tx.Get(adminSessionKey(id))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		sess = new(AdminSession)
		return json.Unmarshal(data, sess)
	})
	if err != nil {
		return nil, s.storeErr("read admin session", err)
	}
	if sess != nil && !s.now().Before(sess.ExpiresAt) {
		return nil, nil
	}
	return sess, nil
}

// EndAdminSession deletes the session with id.
func (s *Service) EndAdminSession(ctx context.Context, id string) error {
	err := s.cfg.Store.Update(ctx, func(tx storage.Tx) error {
		return tx.Delete(adminSessionKey(id))
	})
	if err != nil {
		return s.storeErr("end admin session", err)
	}
	return nil
}
