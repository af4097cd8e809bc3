package reset

import (
	"errors"
	"fmt"
)

// RequestError is a refusal of a request from outside, in the shape of Auth0's
// Authentication API errors: {"error": Code, "error_description": Description}.
// Nothing was changed.
type RequestError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *RequestError) Error() string { return e.Code + ": " + e.Description }

// badRequest returns a 400 RequestError with code invalid_request.
func badRequest(format string, args ...any) *RequestError {
	return &RequestError{Status: 400, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

// ErrUnavailable means the store could not take the request: nothing was promised.
var ErrUnavailable = errors.New("the password reset service is temporarily unavailable")

// TicketError says why a ticket cannot be used. Title and Text are Auth0's words on
// its reset-password error page; Message is the "message" parameter Auth0 appends to
// the result URL.
type TicketError struct {
	Kind    string
	Title   string
	Text    string
	Message string
}

func (e *TicketError) Error() string { return "ticket " + e.Kind }

// The ways a ticket can be unusable.
var (
	ErrTicketInvalid = &TicketError{
		Kind:    "invalid",
		Title:   "Invalid Link",
		Text:    "This link is not valid. To reset your password, return to the login page and select \"Forgot Your Password\" to send a new email.",
		Message: "The operation cannot be completed. Please try again.",
	}
	ErrTicketUsed = &TicketError{
		Kind:    "used",
		Title:   "Invalid Link",
		Text:    "This link has already been used. To reset your password, return to the login page and select \"Forgot Your Password\" to send a new email.",
		Message: "This URL can be used only once",
	}
	ErrTicketExpired = &TicketError{
		Kind:    "expired",
		Title:   "Link Expired",
		Text:    "To reset your password, return to the login page and select \"Forgot Your Password\" to send a new email.",
		Message: "Access expired.",
	}
	// ErrTicketSuperseded: a newer link was sent, or the password changed since.
	ErrTicketSuperseded = &TicketError{
		Kind:    "superseded",
		Title:   "Invalid Link",
		Text:    "This link is no longer valid because a newer one was sent or the password was changed since. To reset your password, use the most recent email or select \"Forgot Your Password\" to send a new one.",
		Message: "The operation cannot be completed. Please try again.",
	}
)

// TryAgainError means the password was not changed for a reason that may pass (the
// app did not answer); the ticket stays usable.
type TryAgainError struct {
	// Message is shown to the user; when the app refused the password it is the
	// app's own message.
	Message string
	cause   error
}

func (e *TryAgainError) Error() string { return "password not changed: " + e.cause.Error() }
func (e *TryAgainError) Unwrap() error { return e.cause }

// AppRefusedError means the app's change_password hook refused the password with
// its own rules (a 4xx answer with a message); nothing changed and the ticket
// stays usable. Message comes from the app and is meant for the user.
type AppRefusedError struct {
	Message string
}

func (e *AppRefusedError) Error() string { return "the app refused the password: " + e.Message }

// genericTryAgain is Auth0's words for an error of the app's hook.
const genericTryAgain = "Something went wrong, please try again later."
