package tickets

import "github.com/caddy-password-reset/caddy-password-reset/internal/fault"

// Why a ticket cannot be used. Each Message is the "message" parameter Auth0
// appends to a result URL; the pages say more, by code.
var (
	ErrInvalid = &fault.Error{Kind: fault.NotFound, Code: "ticket_invalid",
		Message: "The operation cannot be completed. Please try again."}
	ErrUsed = &fault.Error{Kind: fault.Gone, Code: "ticket_used",
		Message: "This URL can be used only once"}
	ErrExpired = &fault.Error{Kind: fault.Gone, Code: "ticket_expired",
		Message: "Access expired."}
	// ErrSuperseded: a newer link was sent, or the password was changed since.
	ErrSuperseded = &fault.Error{Kind: fault.Gone, Code: "ticket_superseded",
		Message: "The operation cannot be completed. Please try again."}
	// ErrBusy: another submit of the same link is changing the password.
	ErrBusy = &fault.Error{Kind: fault.Conflict, Code: "ticket_busy",
		Message: "The operation is in progress."}
	// ErrUnconfirmed: the app did not confirm the change; the link was closed
	// because the password may have changed.
	ErrUnconfirmed = &fault.Error{Kind: fault.Gone, Code: "ticket_unconfirmed",
		Message: "The operation cannot be confirmed. Please try to sign in."}

	// A ticket cancelled because the account changed after the link was sent.
	ErrAccountBlocked = &fault.Error{Kind: fault.Gone, Code: "ticket_account_blocked",
		Message: "The account is blocked."}
	ErrAccountGone = &fault.Error{Kind: fault.Gone, Code: "ticket_account_gone",
		Message: "The user does not exist."}
	ErrAddressChanged = &fault.Error{Kind: fault.Gone, Code: "ticket_address_changed",
		Message: "The email address changed."}
)

// accountReasons are the errors a cancelled ticket's Reason names.
var accountReasons = map[string]*fault.Error{
	ErrAccountBlocked.Code: ErrAccountBlocked,
	ErrAccountGone.Code:    ErrAccountGone,
	ErrAddressChanged.Code: ErrAddressChanged,
}
