package connection

import (
	"context"
	"fmt"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// IDDirectory is a Directory that can also find a user by the user_id it
// returned before. The Management API names users by id (admin tickets,
// PATCH /api/v2/users/{id}).
type IDDirectory interface {
	Directory
	LookupUserByID(ctx context.Context, userID string) (*User, error)
}

// LookupUserByID calls get_user with the user's id instead of an email.
func (u *Upstream) LookupUserByID(ctx context.Context, userID string) (*User, error) {
	user, err := u.getUser(ctx, hook.GetUserRequest{Connection: u.Connection, UserID: userID})
	if err == nil && user.UserID != userID {
		return nil, fmt.Errorf("connection %s: get_user by id answered another user", u.Connection)
	}
	return user, err
}

var _ IDDirectory = (*Upstream)(nil)
