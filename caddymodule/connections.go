package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

func init() {
	caddy.RegisterModule(UpstreamConnection{})
}

// UserStore is where a database connection's users live: every module of the
// password_reset.connections namespace is one. The built-in is
// password_reset.connections.upstream, the app's signed HTTP hooks; an LDAP or
// SQL store would be another module implementing these two methods, in the
// types of the public hook protocol. GetUser finds a user by req.Email, or by
// req.UserID when it is set; errors are ErrUserNotFound, a *RefusedError (the
// user's password refused by the store's own rules, with a message for the user)
// and, from ChangePassword, an error wrapping ErrOutcomeUnknown when the change
// may have happened though it was not confirmed. Any other error means the store
// could not be asked: the plugin retries or asks the user to try again.
type UserStore interface {
	GetUser(ctx context.Context, req hook.GetUserRequest) (*hook.User, error)
	ChangePassword(ctx context.Context, req hook.ChangePasswordRequest) error
}

// The errors a UserStore returns.
var (
	ErrUserNotFound   = users.ErrNotFound
	ErrOutcomeUnknown = users.ErrOutcomeUnknown
)

// RefusedError is a UserStore's refusal of a password; Message is for the user.
type RefusedError = users.RefusedError

// UpstreamConnection is the module password_reset.connections.upstream: the
// users live in the app behind the proxy, which answers two signed HTTP hooks
// (see package hook and the README's "The hook protocol").
type UpstreamConnection struct {
	// URL is the app's base URL, e.g. http://127.0.0.1:9000: https, or plain
	// http to a loopback host (127.0.0.0/8, ::1, localhost) unless Insecure.
	URL string `json:"url"`
	// GetUserPath and ChangePasswordPath are the hooks' paths. Defaults:
	// /internal/users/lookup and /internal/users/password.
	GetUserPath        string `json:"get_user,omitempty"`
	ChangePasswordPath string `json:"change_password,omitempty"`
	// Secret signs every call and checks every answer (HMAC-SHA256), and checks
	// the app's calls to the plugin. Required, 16 characters or more; use
	// {env.X}.
	Secret string `json:"secret,omitempty"`
	// Timeout bounds one hook call, at most 30s (a reset holds its ticket for
	// one minute while the change_password hook runs). Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Insecure allows a plain http URL whose host is not loopback: hook calls
	// carry new passwords in the clear. Set it only when the network between
	// Caddy and the app is private and trusted. Default: false (refused).
	Insecure bool `json:"insecure,omitempty"`

	upstream *connection.Upstream
}

// Defaults for the hooks' paths.
const (
	DefaultGetUserPath        = "/internal/users/lookup"
	DefaultChangePasswordPath = "/internal/users/password"
)

// CaddyModule returns the Caddy module information.
func (UpstreamConnection) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "password_reset.connections.upstream",
		New: func() caddy.Module { return new(UpstreamConnection) },
	}
}

// Provision checks the hooks' address and secret. Secrets are read here, from
// {env.X} placeholders, so that they never appear in the adapted JSON.
func (u *UpstreamConnection) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	base, err := url.Parse(repl.ReplaceAll(u.URL, ""))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("url %q must be an absolute http or https URL", u.URL)
	}
	secret := repl.ReplaceAll(u.Secret, "")
	if secret == "" {
		return errors.New("secret is required (it is empty: is the environment variable set?)")
	}
	if len(secret) < 16 {
		return errors.New("secret must be at least 16 characters")
	}
	u.upstream = &connection.Upstream{
		GetUserURL:        base.JoinPath(orDefault(u.GetUserPath, DefaultGetUserPath)),
		ChangePasswordURL: base.JoinPath(orDefault(u.ChangePasswordPath, DefaultChangePasswordPath)),
		Secret:            []byte(secret),
		Timeout:           time.Duration(u.Timeout),
		Insecure:          u.Insecure,
	}
	return u.upstream.Validate()
}

// GetUser calls the get_user hook.
func (u *UpstreamConnection) GetUser(ctx context.Context, req hook.GetUserRequest) (*hook.User, error) {
	return u.upstream.GetUser(ctx, req)
}

// ChangePassword calls the change_password hook.
func (u *UpstreamConnection) ChangePassword(ctx context.Context, req hook.ChangePasswordRequest) error {
	return u.upstream.ChangePassword(ctx, req)
}

// inbound is the verifier of the app's calls to the plugin (revoke_tickets).
func (u *UpstreamConnection) inbound() *connection.Upstream { return u.upstream }

// UnmarshalCaddyfile parses
//
//	upstream <url> {
//		get_user        <path>
//		change_password <path>
//		secret          <secret>
//		timeout         <duration>
//		insecure
//	}
func (u *UpstreamConnection) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // upstream
	if err := oneArg(d, &u.URL); err != nil {
		return err
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "get_user":
			err = oneArg(d, &u.GetUserPath)
		case "change_password":
			err = oneArg(d, &u.ChangePasswordPath)
		case "secret":
			err = oneArg(d, &u.Secret)
		case "timeout":
			err = durationArg(d, &u.Timeout)
		case "insecure":
			// A flag: plain http to a host that is not loopback, knowingly.
			if d.NextArg() {
				return d.ArgErr()
			}
			u.Insecure = true
		default:
			return d.Errf("unrecognized upstream option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*UpstreamConnection)(nil)
	_ caddyfile.Unmarshaler = (*UpstreamConnection)(nil)
	_ UserStore             = (*UpstreamConnection)(nil)
)
