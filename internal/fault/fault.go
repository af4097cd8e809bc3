// Package fault is the error model of the services: an error is of one of a few
// kinds and has a stable code. The services say what went wrong; the HTTP layer
// alone decides, in one place, which status and which wire shape (Auth0's
// Authentication API or Management API) each kind gets, and the pages look their
// titles and texts up by code.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind is what kind of failure an error is.
type Kind uint8

// The kinds. Every one of them changed nothing, but Unconfirmed.
const (
	// Invalid: the input cannot be used (a malformed body, a weak password).
	Invalid Kind = iota + 1
	// NotFound: what the request names does not exist.
	NotFound
	// Conflict: the request collides with the state (work in progress on the
	// same thing, a name that matches two things).
	Conflict
	// Gone: it existed and can no longer be used (a used or expired link).
	Gone
	// TooLarge: the request is larger than allowed.
	TooLarge
	// RateLimited: too many requests; RetryAfter says when to come back.
	RateLimited
	// Refused: the app behind the proxy refused it (its own password rules).
	Refused
	// Unavailable: the store or the app cannot take it now; nothing was
	// promised.
	Unavailable
	// Unconfirmed: the app was asked and gave no valid answer: whether it
	// acted is not known.
	Unconfirmed
	// Forbidden: the caller may not ask this (a page on an origin the client
	// does not allow).
	Forbidden
)

var kindNames = map[Kind]string{
	Invalid: "invalid", NotFound: "not found", Conflict: "conflict", Gone: "gone", TooLarge: "too large",
	RateLimited: "rate limited", Refused: "refused", Unavailable: "unavailable", Unconfirmed: "unconfirmed",
	Forbidden: "forbidden",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Error is a failure the services report.
type Error struct {
	Kind Kind
	// Code is stable and machine-readable: Auth0's error code where Auth0 has
	// one (invalid_request, PasswordStrengthError), ours otherwise.
	Code string
	// Message is for whoever called, in English: Auth0's words where Auth0 has
	// them. Pages show their own text for the code instead.
	Message string
	// RetryAfter says when to try again (RateLimited, Unavailable); zero when
	// unknown.
	RetryAfter time.Duration
	// Detail is data that the answer shows with some codes: the figures of a
	// rate limit, the rules a password failed.
	Detail any
	// Err is the cause, for the logs; it is never shown.
	Err error
}

// New returns an error of kind with code and a message made from format.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same kind and code, so that
// errors.Is matches a returned error against an exported one (reset.ErrTicketUsed)
// whatever its message or cause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Code == e.Code
}

// With returns a copy of e with cause err.
func (e *Error) With(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
