package connection

import (
	"context"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// Store is a user store in the types of the public hook protocol: Upstream, or
// a third party's Caddy module (caddymodule.UserStore has the same methods).
type Store interface {
	GetUser(ctx context.Context, req hook.GetUserRequest) (*hook.User, error)
	ChangePassword(ctx context.Context, req hook.ChangePasswordRequest) error
}

// NewDirectory returns the users.Directory through which the reset flow sees
// store, the store of connection name.
func NewDirectory(name string, store Store) users.Directory {
	return directory{name: name, store: store}
}

type directory struct {
	name  string
	store Store
}

func (d directory) LookupUser(ctx context.Context, email string) (*users.User, error) {
	return d.get(ctx, hook.GetUserRequest{Connection: d.name, Email: email})
}

func (d directory) LookupUserByID(ctx context.Context, userID string) (*users.User, error) {
	return d.get(ctx, hook.GetUserRequest{Connection: d.name, UserID: userID})
}

func (d directory) get(ctx context.Context, req hook.GetUserRequest) (*users.User, error) {
	u, err := d.store.GetUser(ctx, req)
	if err != nil {
		return nil, err
	}
	return &users.User{UserID: u.UserID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		Nickname: u.Nickname, GivenName: u.GivenName, FamilyName: u.FamilyName, Blocked: u.Blocked, Language: u.Language}, nil
}

func (d directory) ChangePassword(ctx context.Context, req users.ChangeRequest) error {
	return d.store.ChangePassword(ctx, hook.ChangePasswordRequest{Connection: d.name, UserID: req.UserID,
		Email: req.Email, Password: req.Password, Reason: req.Reason, EndSessions: req.EndSessions,
		MarkEmailVerified: req.MarkEmailVerified})
}

var _ Store = (*Upstream)(nil)
