package templates

// PageText is what a page says for an error: its title and its text, looked up
// by the error's code, so that the services carry no page text (and the texts can
// be translated in one place).
type PageText struct {
	Title, Text string
}

const forgotAgain = ` To reset your password, return to the login page and select "Forgot Your Password" to send a new email.`

// pageTexts are the texts of the errors a page shows, by code: Auth0's words on
// its reset-password error page where Auth0 has them.
var pageTexts = map[string]PageText{
	"ticket_invalid":    {"Invalid Link", "This link is not valid." + forgotAgain},
	"ticket_used":       {"Invalid Link", "This link has already been used." + forgotAgain},
	"ticket_expired":    {"Link Expired", forgotAgain[1:]},
	"ticket_superseded": {"Invalid Link", `This link is no longer valid because a newer one was sent or the password was changed since. To reset your password, use the most recent email or select "Forgot Your Password" to send a new one.`},
	"ticket_busy":       {"Please Wait", "Your password is being changed. Wait a moment, then sign in with the new password."},
	"ticket_unconfirmed": {"Password Change Not Confirmed",
		`We could not confirm that your password was changed. Try to sign in with the new password; if that does not work, select "Forgot Your Password" to send a new email.`},
	"ticket_account_blocked":  {"Link Cancelled", "This link was cancelled because the account is blocked. Contact the application's support."},
	"ticket_account_gone":     {"Link Cancelled", "This link was cancelled because the account no longer exists."},
	"ticket_address_changed":  {"Link Cancelled", `This link was cancelled because the account's email address changed since it was sent. To reset your password, select "Forgot Your Password" to send a link to the current address.`},
	"temporarily_unavailable": {"Please Try Again", "Something went wrong. Please try again in a few minutes."},
	"too_many_requests":       {"Please Try Again", "Too many attempts. Wait a minute, then open the link from your email again."},
}

// Text returns the page text for code, and whether there is one.
func Text(code string) (PageText, bool) {
	t, ok := pageTexts[code]
	return t, ok
}
