package demoapp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// sessionCookie is the name of the app's session cookie.
const sessionCookie = "demo_session"

// sessionKey is the SHA-256 of a session token. The app keeps only this, so that
// a dump of its memory does not hand out live sessions.
type sessionKey [sha256.Size]byte

func keyOf(token string) sessionKey { return sha256.Sum256([]byte(token)) }

// newToken returns 32 random bytes in unpadded base64url.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// startSession opens a session for the user and sets its cookie on w.
func (a *App) startSession(w http.ResponseWriter, r *http.Request, userID string) {
	token := newToken()
	a.mu.Lock()
	a.sessions[keyOf(token)] = userID
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   isHTTPS(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// endSession closes the session named by r's cookie, if any, and clears the cookie.
func (a *App) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, keyOf(c.Value))
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// endUserSessions closes every session of the user, as Auth0 does after a
// password change, and returns how many it closed.
func (a *App) endUserSessions(userID string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for k, id := range a.sessions {
		if id == userID {
			delete(a.sessions, k)
			n++
		}
	}
	return n
}

// currentUser returns the signed-in user of r, if any.
func (a *App) currentUser(r *http.Request) (account, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return account{}, false
	}
	a.mu.RLock()
	id, ok := a.sessions[keyOf(c.Value)]
	a.mu.RUnlock()
	if !ok {
		return account{}, false
	}
	return a.userByID(id)
}

// isHTTPS reports whether the browser reached the app over HTTPS: directly, or
// through Caddy, which sets X-Forwarded-Proto. The app listens on loopback behind
// the proxy, so the header is trusted.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}
