package connection

import (
	"context"
	"fmt"
	"net/http"

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
	body := hook.GetUserRequest{Connection: u.Connection, UserID: userID}
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
	case user.UserID != userID:
		return nil, fmt.Errorf("connection %s: get_user by id answered another user", u.Connection)
	}
	return &user, nil
}

var _ IDDirectory = (*Upstream)(nil)
