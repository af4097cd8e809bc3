package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Session is a dashboard sign-in. The store keeps it under the hash of its
// id, so a copy of the store does not yield a usable session cookie.
type Session struct {
	// Actor is the admin token's name, for the audit log.
	Actor string `json:"actor"`
	// TokenFingerprint identifies the token signed in with (a hash of its
	// hash): removing the token from the configuration ends its sessions.
	TokenFingerprint string    `json:"token_fingerprint"`
	CSRF             string    `json:"csrf"`
	ExpiresAt        time.Time `json:"expires_at"`
	// Binding is a hash of the client that signed in (its address and its
	// browser): a session cookie copied to another client does not open the
	// dashboard there.
	Binding string `json:"binding"`
}

const adminSessionPrefix = "adm/sess/"

func adminSessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return adminSessionPrefix + hex.EncodeToString(sum[:])
}

// SessionBinding is what a session is bound to: the client's address (an IPv6
// client by its /64, as the rate limits count it) and its User-Agent.
func SessionBinding(ip, userAgent string) string {
	sum := sha256.Sum256([]byte("admin-session\x00" + reset.IPKey(ip) + "\x00" + userAgent))
	return hex.EncodeToString(sum[:16])
}

// CreateSession stores a new session for ttl, bound to binding, and
// returns its id (256 random bits) for the cookie. It records the sign-in in
// the audit log.
func (s *Service) CreateSession(ctx context.Context, a Actor, fingerprint, binding string, ttl time.Duration) (string, *Session, error) {
	b := make([]byte, 32)
	rand.Read(b)
	id := hex.EncodeToString(b)
	sess := &Session{Actor: a.Name, TokenFingerprint: fingerprint, CSRF: rand.Text(),
		ExpiresAt: s.now().Add(ttl), Binding: binding}
	if err := s.storeSession(ctx, a, id, sess, ttl); err != nil {
		return "", nil, err
	}
	return id, sess, nil
}

// TrustedSession returns the session of an admin that Caddy's own
// authentication let in (`token none`), creating it on the first request. Its
// id is derived from the admin's name, the client's binding and the period of
// ttl that now falls in, under a key kept outside the store, so that every
// request of one admin from one browser within a period shares one session and
// one sign-in entry in the audit log, with no cookie needed for the first.
func (s *Service) TrustedSession(ctx context.Context, a Actor, binding string, ttl time.Duration) (string, *Session, error) {
	now := s.now()
	period := now.UnixNano() / int64(ttl)
	mac := hmac.New(sha256.New, s.cfg.Keys.Key("admin/trusted-session"))
	mac.Write([]byte(a.Name + "\x00" + binding + "\x00" + strconv.FormatInt(period, 10)))
	id := hex.EncodeToString(mac.Sum(nil))
	if sess, err := s.SessionByID(ctx, id); err != nil || sess != nil {
		return id, sess, err
	}
	expires := time.Unix(0, (period+1)*int64(ttl))
	sess := &Session{Actor: a.Name, TokenFingerprint: "none", CSRF: rand.Text(), ExpiresAt: expires, Binding: binding}
	if err := s.storeSession(ctx, a, id, sess, expires.Sub(now)); err != nil {
		return "", nil, err
	}
	return id, sess, nil
}

// storeSession writes sess under id with its sign-in entry, in one transaction.
func (s *Service) storeSession(ctx context.Context, a Actor, id string, sess *Session, ttl time.Duration) error {
	data, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	err = storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if err := tx.Set(adminSessionKey(id), data, ttl); err != nil {
			return err
		}
		return s.cfg.Audit.Put(tx, audit.Entry{Type: audit.AdminLogin, Description: "Signed in to the dashboard"}.By(a))
	})
	if err != nil {
		return s.storeErr("store admin session", err)
	}
	return nil
}

// SessionByID returns the session with id, or nil if there is none or it
// expired.
func (s *Service) SessionByID(ctx context.Context, id string) (*Session, error) {
	if len(id) != 64 {
		return nil, nil
	}
	var sess *Session
	err := s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		data, err := tx.Get(adminSessionKey(id))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		sess = new(Session)
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

// EndSession deletes the session with id.
func (s *Service) EndSession(ctx context.Context, id string) error {
	err := s.cfg.Store.Update(ctx, func(tx storage.Tx) error {
		return tx.Delete(adminSessionKey(id))
	})
	if err != nil {
		return s.storeErr("end admin session", err)
	}
	return nil
}

// RefuseSession ends a session presented by a client it is not bound to
// (its cookie was copied) and records it.
func (s *Service) RefuseSession(ctx context.Context, id string, sess *Session, ip string) {
	if err := s.EndSession(ctx, id); err != nil {
		s.log.Error("end a copied admin session", "error", err)
	}
	s.record(ctx, audit.Entry{Type: audit.AdminSessionRefused, Actor: sess.Actor, IP: ip,
		Description: "A dashboard session cookie came from another client (a copied cookie?): the session was ended"})
}

// authLimit bounds wrong admin tokens per client IP: 10, then one a minute.
// Tokens carry 128 random bits at least, so this is not what stops a guesser; it
// keeps the failures out of the logs' noise. It counts failures only, and the
// right token is checked first, so that it is never locked out.
var authLimit = ratelimit.Limit{Burst: 10, Every: time.Minute}

func authCheck(ip string) ratelimit.Check {
	return ratelimit.Check{Name: "admin_auth", Key: reset.IPKey(ip), Limit: authLimit}
}

// WrongToken counts a wrong admin token from ip, unless ip has used up its
// failures: then it reports the limit (and counts nothing more).
func (s *Service) WrongToken(ctx context.Context, ip string) (reset.RateInfo, bool) {
	d, err := s.cfg.Limiter.Peek(ctx, authCheck(ip))
	if err == nil && !d.Allowed {
		return reset.RateInfo{Limit: d.Limit, Remaining: d.Remaining, Reset: d.Reset, RetryAfter: d.RetryAfter, Refused: true}, true
	}
	if _, err := s.cfg.Limiter.Allow(ctx, authCheck(ip)); err != nil {
		s.log.Warn("count a failed admin sign-in", "error", err)
	}
	return reset.RateInfo{}, false
}
