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

// Tickets closed because the account changed after the link was sent, and the
// ticket of a submit whose change_password call gave no valid answer.
var (
	ErrTicketAccountBlocked = &TicketError{
		Kind:    "account_blocked",
		Title:   "Link Cancelled",
		Text:    "This link was cancelled because the account is blocked. Contact the application's support.",
		Message: "The account is blocked.",
	}
	ErrTicketAccountGone = &TicketError{
		Kind:    "account_gone",
		Title:   "Link Cancelled",
		Text:    "This link was cancelled because the account no longer exists.",
		Message: "The user does not exist.",
	}
	ErrTicketAddressChanged = &TicketError{
		Kind:    "address_changed",
		Title:   "Link Cancelled",
		Text:    "This link was cancelled because the account's email address changed since it was sent. To reset your password, select \"Forgot Your Password\" to send a link to the current address.",
		Message: "The email address changed.",
	}
	// ErrTicketBusy: another submit of the same link is changing the password.
	ErrTicketBusy = &TicketError{
		Kind:    "busy",
		Title:   "Please Wait",
		Text:    "Your password is being changed. Wait a moment, then sign in with the new password.",
		Message: "The operation is in progress.",
	}
	// ErrTicketUnconfirmed: the app did not confirm the change; the link is
	// closed because the password may have changed.
	ErrTicketUnconfirmed = &TicketError{
		Kind:    "unconfirmed",
		Title:   "Password Change Not Confirmed",
		Text:    "We could not confirm that your password was changed. Try to sign in with the new password; if that does not work, select \"Forgot Your Password\" to send a new email.",
		Message: "The operation cannot be confirmed. Please try to sign in.",
	}
)

// accountReasons are the TicketErrors a cancelled ticket's Reason names.
var accountReasons = map[string]*TicketError{
	ErrTicketAccountBlocked.Kind: ErrTicketAccountBlocked,
	ErrTicketAccountGone.Kind:    ErrTicketAccountGone,
	ErrTicketAddressChanged.Kind: ErrTicketAddressChanged,
}

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
