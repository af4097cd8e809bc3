// Package users is how the reset flow sees the app's users: a Directory that
// finds a user and sets a password, whatever keeps them (the app's HTTP hooks
// today; LDAP or SQL later, each a Caddy module). It holds no transport: the
// implementations live elsewhere and are injected.
package users

import (
	"context"
	"errors"
	"fmt"
)

// Kind is the strategy of a connection. Only database connections have
// passwords to reset; social and enterprise ones are declared so that requests
// naming them get a clear refusal, as Auth0 refuses them.
type Kind string

// The kinds.
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
type User struct {
	UserID        string
	Email         string // mail goes here, never to the address typed
	EmailVerified bool
	Name          string
	Nickname      string
	GivenName     string
	FamilyName    string
	Blocked       bool   // gets no reset email and cannot complete a reset
	Language      string // BCP 47, if the app knows it
}

// Why a password changes.
const (
	ReasonReset = "reset" // the user followed a link or a ticket
	ReasonAdmin = "admin" // set by hand through the Management API or dashboard
)

// ChangeRequest asks the app to set a user's password.
type ChangeRequest struct {
	UserID      string
	Email       string
	Password    string
	Reason      string // ReasonReset or ReasonAdmin
	EndSessions bool
	// MarkEmailVerified: the user proved the address (an admin ticket created
	// with mark_email_as_verified).
	MarkEmailVerified bool
}

// Directory finds users and changes their passwords. Errors other than those
// below mean the app could not be asked (down, a bad answer): the caller retries
// later or tells the user to try again.
type Directory interface {
	// LookupUser finds the user with this address (as typed, normalised).
	LookupUser(ctx context.Context, email string) (*User, error)
	// LookupUserByID finds the user with the user_id the directory returned
	// before.
	LookupUserByID(ctx context.Context, userID string) (*User, error)
	// ChangePassword sets the user's password.
	ChangePassword(ctx context.Context, req ChangeRequest) error
}

// ErrNotFound means the app has no such user.
var ErrNotFound = errors.New("users: no such user")

// ErrOutcomeUnknown is wrapped by a ChangePassword error when the request may
// have reached the app but no valid answer came back (a timeout once the call
// was sent, a broken connection, an answer that does not verify): whether the
// password changed is not known.
var ErrOutcomeUnknown = errors.New("users: the app did not confirm the change")

// RefusedError means the app understood the request and refused it; Message
// comes from the app and is meant for the user ("The new password must differ
// ...").
type RefusedError struct {
	Message string
}

func (e *RefusedError) Error() string { return "users: the app refused the password: " + e.Message }
