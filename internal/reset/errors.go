package reset

import (
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
)

// The flow's errors. Every error the flow returns is a *fault.Error: these, the
// tickets' (re-exported below), a password policy's (code: Auth0's error name,
// such as PasswordStrengthError, with the rules as its Detail) and a rate limit's
// (code too_many_requests, with a RateInfo as its Detail).
var (
	// ErrUnavailable: the store cannot take the request; nothing was promised.
	ErrUnavailable = &fault.Error{Kind: fault.Unavailable, Code: "temporarily_unavailable",
		Message: "The password reset service cannot take requests right now. Nothing was sent; please try again shortly."}
	// ErrAppUnavailable: the app did not change the password (it failed or
	// could not be reached); the ticket stays usable.
	ErrAppUnavailable = &fault.Error{Kind: fault.Unavailable, Code: "app_unavailable",
		Message: "Something went wrong, please try again later."}
	// ErrRateLimited: too many requests; RetryAfter says when.
	ErrRateLimited = &fault.Error{Kind: fault.RateLimited, Code: "too_many_requests",
		Message: "You have reached the limit on password change attempts. Please wait before trying again."}

	// The reset form's mistakes.
	ErrPasswordMissing     = &fault.Error{Kind: fault.Invalid, Code: "password_missing", Message: "Enter a new password."}
	ErrConfirmationMissing = &fault.Error{Kind: fault.Invalid, Code: "confirmation_missing", Message: "New password confirmation is missing."}
	ErrPasswordsDiffer     = &fault.Error{Kind: fault.Invalid, Code: "passwords_differ",
		Message: "Please ensure the password and the confirmation are the same."}
)

// Why a ticket cannot be used (package tickets' errors).
var (
	ErrTicketInvalid        = tickets.ErrInvalid
	ErrTicketUsed           = tickets.ErrUsed
	ErrTicketExpired        = tickets.ErrExpired
	ErrTicketSuperseded     = tickets.ErrSuperseded
	ErrTicketBusy           = tickets.ErrBusy
	ErrTicketUnconfirmed    = tickets.ErrUnconfirmed
	ErrTicketAccountBlocked = tickets.ErrAccountBlocked
	ErrTicketAccountGone    = tickets.ErrAccountGone
	ErrTicketAddressChanged = tickets.ErrAddressChanged
)

// badRequest returns an Invalid error with Auth0's code invalid_request.
func badRequest(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "invalid_request", format, args...)
}

// refused is the app's own refusal of a password, with its message.
func refused(message string) *fault.Error {
	return &fault.Error{Kind: fault.Refused, Code: "password_refused", Message: message}
}

// unavailable is ErrUnavailable with its cause, for the logs.
func unavailable(err error) *fault.Error { return ErrUnavailable.With(err) }
