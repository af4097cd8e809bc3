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
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// DefaultHookTimeout bounds one hook call when Upstream.Timeout is zero.
const DefaultHookTimeout = 5 * time.Second

// MaxTimeout is the longest Upstream.Timeout allowed. A reset holds its ticket
// for one minute while the change_password hook runs; every call must end well
// within that, so that a ticket is never released while its call may still land.
const MaxTimeout = 30 * time.Second

// Upstream is a user store backed by the app's two HTTP hooks (hook protocol
// v2). Its errors are package users': users.ErrNotFound for an unknown user,
// *users.RefusedError for a password the app refused, and users.ErrOutcomeUnknown
// (wrapped) when a change_password call may have reached the app but no valid
// signed answer came back: it timed out after the call was sent, the connection
// broke mid-answer, the context ended mid-call, or the answer's signature did
// not verify. The password may or may not have changed then.
type Upstream struct {
	// Connection is the connection's name, sent in every call.
	Connection string
	// GetUserURL and ChangePasswordURL are the hooks' absolute URLs.
	GetUserURL        *url.URL
	ChangePasswordURL *url.URL
	// Secret signs every call and checks every answer (HMAC-SHA256), and checks
	// the app's calls to the plugin (VerifyInbound).
	Secret []byte
	// Timeout bounds one call; zero means DefaultHookTimeout. At most MaxTimeout.
	Timeout time.Duration
	// Insecure allows plain http to a host that is not loopback (see Validate).
	Insecure bool
	// Client sends the calls; nil means a client that never follows redirects.
	Client *http.Client
	// Now is the clock used to timestamp calls; nil means time.Now.
	Now func() time.Time

	inboundOnce sync.Once
	inbound     *hook.Verifier
}

// Validate refuses an upstream that would send hook calls in the clear over a
// network, or whose timeout is out of bounds.
func (u *Upstream) Validate() error {
	for _, target := range []*url.URL{u.GetUserURL, u.ChangePasswordURL} {
		if target == nil {
			return errors.New("a hook URL is missing")
		}
		if err := checkPlainHTTP(target, u.Insecure); err != nil {
			return err
		}
	}
	switch {
	case u.Timeout < 0:
		return fmt.Errorf("timeout %s must be positive", u.Timeout)
	case u.Timeout > MaxTimeout:
		return fmt.Errorf("timeout %s is above the maximum of %s: a reset holds its ticket for one minute "+
			"while the change_password hook runs, and every hook call must end well within that", u.Timeout, MaxTimeout)
	}
	return nil
}

// checkPlainHTTP refuses http:// to a host that is not loopback unless insecure:
// calls carry new passwords, and answers say where reset mail goes (issue 8: a
// man in the middle rewrote get_user's email). The answer's signature stops a
// rewrite, but not a reader.
func checkPlainHTTP(target *url.URL, insecure bool) error {
	if target.Scheme != "http" || insecure || isLoopback(target.Hostname()) {
		return nil
	}
	return fmt.Errorf("plain http to %s is refused: it is not a loopback address, and hook calls carry new "+
		"passwords and user data across the network in the clear; use https, or, if the network between "+
		"Caddy and the app is private and trusted, write insecure in the upstream block", target.Host)
}

// isLoopback reports whether host (without a port) names this machine: a
// loopback IP literal (127.0.0.0/8, ::1) or "localhost". Other names are not
// resolved: what a name resolves to can change after the check.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// noRedirects keeps a hook call from being bounced to another host with its signed
// body and the user's new password. Its transport keeps as many idle
// connections to the app as hook calls run at once (the reset jobs' and the
// form's): with net/http's default of 2, every call past two opened a new
// connection and left one in TIME_WAIT.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     hookTransport(),
}

// hookConns bounds the idle connections kept to each app.
const hookConns = 64

func hookTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = hookConns
	t.MaxIdleConns = 4 * hookConns
	return t
}

// answer is an app's answer whose signature verified.
type answer struct {
	status int
	body   []byte
}

// GetUser calls get_user: by email, or by the user_id the app returned before
// when req.UserID is set. The answer must be a user with an id and an address
// (for a lookup by id, that id), or users.ErrNotFound.
func (u *Upstream) GetUser(ctx context.Context, req hook.GetUserRequest) (*hook.User, error) {
	if req.Connection == "" {
		req.Connection = u.Connection
	}
	ans, _, err := u.call(ctx, hook.GetUser, u.GetUserURL, req)
	switch {
	case err != nil:
		return nil, err
	case ans.status == http.StatusNotFound:
		return nil, users.ErrNotFound
	case ans.status != http.StatusOK:
		return nil, fmt.Errorf("connection %s: get_user answered %d", u.Connection, ans.status)
	}
	var user hook.User
	if err := json.Unmarshal(ans.body, &user); err != nil {
		return nil, fmt.Errorf("connection %s: decode the get_user answer: %w", u.Connection, err)
	}
	switch {
	case user.UserID == "" || user.Email == "":
		return nil, fmt.Errorf("connection %s: get_user answer lacks user_id or email", u.Connection)
	case req.UserID != "" && user.UserID != req.UserID:
		return nil, fmt.Errorf("connection %s: get_user by id answered another user", u.Connection)
	}
	return &user, nil
}

// ChangePassword calls change_password. An error wraps users.ErrOutcomeUnknown
// when the call may have reached the app and no verified answer came back; a
// call that could not be sent, and a verified answer of failure, are definite.
func (u *Upstream) ChangePassword(ctx context.Context, req hook.ChangePasswordRequest) error {
	if req.Connection == "" {
		req.Connection = u.Connection
	}
	ans, sent, err := u.call(ctx, hook.ChangePassword, u.ChangePasswordURL, req)
	switch {
	case err != nil && sent:
		return fmt.Errorf("%w; %w", err, users.ErrOutcomeUnknown)
	case err != nil:
		return err
	case ans.status == http.StatusOK || ans.status == http.StatusNoContent:
		return nil
	case ans.status == http.StatusNotFound:
		return users.ErrNotFound
	}
	var refusal hook.ErrorResponse
	if ans.status >= 400 && ans.status < 500 && json.Unmarshal(ans.body, &refusal) == nil && refusal.Message != "" {
		return &users.RefusedError{Message: refusal.Message}
	}
	return fmt.Errorf("connection %s: change_password answered %d", u.Connection, ans.status)
}

// call signs and sends one hook call and returns the app's answer once its
// signature verifies. sent reports, with an error, whether the call may have
// reached the app: its headers were written to a connection. Errors name the
// hook and the URL, never a body: it may hold a password.
func (u *Upstream) call(ctx context.Context, name string, target *url.URL, in any) (ans answer, sent bool, err error) {
	body, err := json.Marshal(in)
	if err != nil {
		return answer{}, false, fmt.Errorf("connection %s: encode %s: %w", u.Connection, name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	// Once any attempt has written its headers, the app may have the call. The
	// transport retries a POST only when nothing reached the wire, so counting
	// every attempt errs on the side of "maybe sent".
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return answer{}, false, fmt.Errorf("connection %s: %s: %w", u.Connection, name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	sig := hook.Signature{Hook: name, ID: rand.Text(), Timestamp: u.now()}
	hook.SetHeaders(req.Header, u.Secret, sig, body)
	resp, err := u.client().Do(req)
	if err != nil {
		return answer{}, wrote.Load(), fmt.Errorf("connection %s: %s hook at %s: %w", u.Connection, name, redact(target), unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := readAnswer(resp)
	if err != nil {
		return answer{}, true, fmt.Errorf("connection %s: %s hook at %s: %w", u.Connection, name, redact(target), err)
	}
	if err := hook.VerifyAnswer(resp.Header, u.Secret, sig, resp.StatusCode, data); err != nil {
		return answer{}, true, u.answerError(name, resp.StatusCode, err)
	}
	return answer{status: resp.StatusCode, body: data}, true, nil
}

// answerError explains an answer that did not verify. An unsigned answer is
// what an app still on hook protocol v1 sends, or an app (v1 or v2) refusing a
// call whose signature it could not check.
func (u *Upstream) answerError(name string, status int, err error) error {
	var msg string
	switch {
	case errors.Is(err, hook.ErrUnsignedAnswer) && status == http.StatusUnauthorized:
		msg = fmt.Sprintf("the app refused the %s call (401) without signing its answer: the hook secrets differ, "+
			"or the app speaks hook protocol v1; see README 'The hook protocol'", name)
	case errors.Is(err, hook.ErrUnsignedAnswer):
		msg = fmt.Sprintf("the app's %s answer is not signed: it speaks hook protocol v1; see README 'The hook protocol' (status %d)", name, status)
	default:
		msg = fmt.Sprintf("the app's %s answer (status %d) does not verify, so it was ignored: it was changed on the way, "+
			"or the hook secrets differ (%v)", name, status, err)
	}
	return &answerErr{msg: "connection " + u.Connection + ": " + msg, err: err}
}

// answerErr is an answer refused for its signature: its message says what to do,
// and it wraps the hook package's error (hook.ErrUnsignedAnswer, ...).
type answerErr struct {
	msg string
	err error
}

func (e *answerErr) Error() string { return e.msg }
func (e *answerErr) Unwrap() error { return e.err }

// readAnswer reads a bounded answer body.
func readAnswer(resp *http.Response) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, hook.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if len(data) > hook.MaxBodyBytes {
		return nil, fmt.Errorf("the answer is larger than %d bytes", hook.MaxBodyBytes)
	}
	return data, nil
}

// Inbound is a connection whose app may call the plugin (hook.RevokeTickets).
type Inbound interface {
	// VerifyInbound verifies the app's call for wantHook, signed with the
	// connection's hook secret, and refuses a replay. The returned call signs
	// the answer.
	VerifyInbound(h http.Header, body []byte, wantHook string) (*hook.Call, error)
}

// VerifyInbound verifies a call from the app (see Inbound) with the connection's
// own hook.Verifier.
func (u *Upstream) VerifyInbound(h http.Header, body []byte, wantHook string) (*hook.Call, error) {
	u.inboundOnce.Do(func() { u.inbound = &hook.Verifier{Secret: u.Secret, Now: u.Now} })
	return u.inbound.Verify(h, body, wantHook)
}

var _ Inbound = (*Upstream)(nil)

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
