// Package connection is where users live. A database connection reaches the app
// behind the proxy through its hooks (see package hook); social and enterprise
// connections can be declared so that requests naming them are refused with a clear
// message, as Auth0 refuses password resets for them.
package connection

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// Kind is the strategy of a connection.
type Kind string

// The kinds of connection. Only database connections have passwords to reset.
const (
	Database   Kind = "database"
	Social     Kind = "social"
	Enterprise Kind = "enterprise"
)

// ParseKind returns the Kind named by s.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Database, Social, Enterprise:
		return k, nil
	}
	return "", fmt.Errorf("unknown connection kind %q (want database, social or enterprise)", s)
}

// User is a user as the app describes it.
type User = hook.User

// ChangeRequest asks the app to set a user's password.
type ChangeRequest struct {
	UserID      string
	Email       string
	Password    string
	Reason      string // hook.ReasonReset or hook.ReasonAdmin
	EndSessions bool
	// MarkEmailVerified: the user proved the address (an admin ticket created
	// with mark_email_as_verified).
	MarkEmailVerified bool
}

// ErrUserNotFound means the app has no such user.
var ErrUserNotFound = errors.New("connection: user not found")

// RefusedError means the app understood the request and refused it; Message comes
// from the app and is meant for the user ("The new password must differ ...").
type RefusedError struct {
	Message string
}

func (e *RefusedError) Error() string {
	return "connection: the app refused the password: " + e.Message
}

// Directory finds users and changes their passwords. Errors other than
// ErrUserNotFound and *RefusedError mean the app could not be asked (down, timed
// out, bad answer): the caller retries later or tells the user to try again.
// A ChangePassword error that wraps ErrOutcomeUnknown means the app may have
// changed the password all the same.
type Directory interface {
	LookupUser(ctx context.Context, email string) (*User, error)
	ChangePassword(ctx context.Context, req ChangeRequest) error
}
