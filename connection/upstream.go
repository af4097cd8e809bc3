package connection

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// DefaultHookTimeout bounds one hook call when Upstream.Timeout is zero.
const DefaultHookTimeout = 5 * time.Second

// Upstream is a Directory backed by the app's two HTTP hooks.
type Upstream struct {
	// Connection is the connection's name, sent in every call.
	Connection string
	// GetUserURL and ChangePasswordURL are the hooks' absolute URLs.
	GetUserURL        *url.URL
	ChangePasswordURL *url.URL
	// Secret signs every call (HMAC-SHA256).
	Secret []byte
	// Timeout bounds one call; zero means DefaultHookTimeout.
	Timeout time.Duration
	// Client sends the calls; nil means a client that never follows redirects.
	Client *http.Client
	// Now is the clock used to timestamp calls; nil means time.Now.
	Now func() time.Time
}

// noRedirects keeps a hook call from being bounced to another host with its signed
// body and the user's new password.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// LookupUser calls get_user.
func (u *Upstream) LookupUser(ctx context.Context, email string) (*User, error) {
	return u.getUser(ctx, hook.GetUserRequest{Connection: u.Connection, Email: email})
}

// getUser calls get_user and checks the answer: a user with an id and an address,
// or ErrUserNotFound.
func (u *Upstream) getUser(ctx context.Context, body hook.GetUserRequest) (*User, error) {
	var user User
	status, err := u.call(ctx, hook.GetUser, u.GetUserURL, body, &user)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusNotFound:
		return nil, ErrUserNotFound
	case status != http.StatusOK:
		return nil, fmt.Errorf("connection %s: get_user answered %d", u.Connection, status)
	case user.UserID == "" || user.Email == "":
		return nil, fmt.Errorf("connection %s: get_user answer lacks user_id or email", u.Connection)
	}
	return &user, nil
}

// ChangePassword calls change_password.
func (u *Upstream) ChangePassword(ctx context.Context, req ChangeRequest) error {
	body := hook.ChangePasswordRequest{
		Connection:  u.Connection,
		UserID:      req.UserID,
		Email:       req.Email,
		Password:    req.Password,
		Reason:      req.Reason,
		EndSessions: req.EndSessions,

		MarkEmailVerified: req.MarkEmailVerified,
	}
	var refusal hook.ErrorResponse
	status, err := u.call(ctx, hook.ChangePassword, u.ChangePasswordURL, body, &refusal)
	switch {
	case err != nil:
		return err
	case status == http.StatusOK || status == http.StatusNoContent:
		return nil
	case status == http.StatusNotFound:
		return ErrUserNotFound
	case status >= 400 && status < 500 && refusal.Message != "":
		return &RefusedError{Message: refusal.Message}
	}
	return fmt.Errorf("connection %s: change_password answered %d", u.Connection, status)
}

// call signs and sends one hook call and decodes a JSON answer into out when there
// is one. Errors name the hook and the URL, never the body: it may hold a password.
func (u *Upstream) call(ctx context.Context, name string, target *url.URL, in, out any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, fmt.Errorf("connection %s: encode %s: %w", u.Connection, name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("connection %s: %s: %w", u.Connection, name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hook.SetHeaders(req.Header, u.Secret, hook.Signature{Hook: name, ID: rand.Text(), Timestamp: u.now()}, body)
	resp, err := u.client().Do(req)
	if err != nil {
		return 0, fmt.Errorf("connection %s: %s hook at %s: %w", u.Connection, name, redact(target), unwrapURLError(err))
	}
	defer resp.Body.Close()
	return resp.StatusCode, decodeAnswer(resp, out)
}

// decodeAnswer reads a bounded JSON answer. A non-JSON or empty body is not an error
// for statuses that need none (204, 404).
func decodeAnswer(resp *http.Response, out any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, hook.MaxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("read hook answer: %w", err)
	}
	if len(data) > hook.MaxBodyBytes {
		return errors.New("hook answer too large")
	}
	if len(bytes.TrimSpace(data)) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil && resp.StatusCode == http.StatusOK {
		return fmt.Errorf("decode hook answer: %w", err)
	}
	return nil
}

func (u *Upstream) timeout() time.Duration {
	if u.Timeout > 0 {
		return u.Timeout
	}
	return DefaultHookTimeout
}

func (u *Upstream) client() *http.Client {
	if u.Client != nil {
		return u.Client
	}
	return noRedirects
}

func (u *Upstream) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// redact drops userinfo and the query from a URL before it goes into an error.
func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.Fragment = nil, "", ""
	return c.String()
}

// unwrapURLError drops *url.Error's repetition of the method and URL, which the
// caller already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
