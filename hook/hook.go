// Package hook is the public contract between the password-reset plugin and the app
// behind the proxy, hook protocol v2. The app keeps its users and answers two HTTP
// hooks:
//
//   - get_user: look a user up by email (Auth0's custom-database getUser script);
//   - change_password: set a user's new password (Auth0's changePassword script).
//
// and may make one call to the plugin:
//
//   - revoke_tickets: the user's password changed inside the app, so the user's
//     open reset links must stop working.
//
// Every call is a POST with a JSON body, signed with HMAC-SHA256 over the protocol
// version, a timestamp, a call ID, the hook's name and the body, using a secret
// shared between the Caddyfile and the app. Every answer is signed too, over the
// call's timestamp, ID and hook, the answer's status code and its body, so that a
// proxy in between can neither change an answer nor hand one call's answer to
// another.
//
// An app written in Go verifies calls with a Verifier, which also refuses a call
// ID it has seen before (a replay), and answers through the returned Call, which
// signs the answer. Apps in other languages follow the same few lines (see
// README.md, "The hook protocol").
package hook

import "time"

// The hooks' names, signed into every call so that a body meant for one hook cannot
// be replayed against the other.
const (
	GetUser        = "get_user"
	ChangePassword = "change_password"
	// RevokeTickets is the app's call to the plugin (POST /lo/hooks/revoke): the
	// user's password changed inside the app, so the open reset links must die.
	RevokeTickets = "revoke_tickets"
)

// Version is the hook protocol this package speaks. It prefixes every signature
// ("v2=<hex>") and starts every signed string.
const Version = "v2"

// Headers that carry the signature. A call carries all four; an answer carries
// HeaderSignature only (the caller knows the rest).
const (
	HeaderHook      = "X-Password-Reset-Hook"
	HeaderID        = "X-Password-Reset-Id"
	HeaderTimestamp = "X-Password-Reset-Timestamp"
	HeaderSignature = "X-Password-Reset-Signature"
)

// DefaultTolerance is how far a call's timestamp may be from the app's clock before
// the app refuses it as a possible replay.
const DefaultTolerance = 5 * time.Minute

// MaxBodyBytes bounds a hook body, of a call or of an answer. Both sides refuse
// larger bodies.
const MaxBodyBytes = 64 << 10

// MaxIDLen bounds a call ID. IDs are made of visible ASCII characters (the plugin
// sends 26 random base32 characters).
const MaxIDLen = 128

// GetUserRequest is the body of a get_user call.
type GetUserRequest struct {
	// Connection is the name of the database connection the user belongs to.
	Connection string `json:"connection"`
	// Email is the address the user typed, trimmed and with its domain lower-cased.
	// The app compares it with its own records however it normally does. Empty
	// when UserID is set.
	Email string `json:"email,omitempty"`
	// UserID, when set, asks for the user with this id (the user_id the app
	// returned before) instead of an email: admin tickets and the Management
	// API's PATCH /api/v2/users/{id} name users by id. Apps that predate it see
	// an empty email and answer 404.
	UserID string `json:"user_id,omitempty"`
}

// User is the answer to get_user when the user exists (status 200). An unknown user
// is answered with status 404 and any body.
type User struct {
	// UserID is the app's stable identifier for the user. Required.
	UserID string `json:"user_id"`
	// Email is the address stored by the app. Mail goes to this address, never to
	// the string the user typed. Required.
	Email string `json:"email"`
	// EmailVerified tells whether the app has verified the address.
	EmailVerified bool `json:"email_verified,omitempty"`
	// Name is the user's display name, used in emails.
	Name string `json:"name,omitempty"`
	// Nickname, GivenName and FamilyName are optional profile fields.
	Nickname   string `json:"nickname,omitempty"`
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	// Blocked users get no reset email and cannot complete a reset.
	Blocked bool `json:"blocked,omitempty"`
	// Language is the user's preferred language (a BCP 47 tag), if the app knows it.
	Language string `json:"language,omitempty"`
}

// ChangePasswordRequest is the body of a change_password call. The password is in
// plain text: the app hashes it with its own scheme before storing it.
type ChangePasswordRequest struct {
	Connection string `json:"connection"`
	UserID     string `json:"user_id"`
	Email      string `json:"email"`
	Password   string `json:"password"`
	// Reason tells why the password changes: "reset" (the user followed an emailed
	// link or a ticket) or "admin" (set by hand through the Management API).
	Reason string `json:"reason"`
	// EndSessions asks the app to end the user's other sessions, as Auth0 does after
	// a password change.
	EndSessions bool `json:"end_sessions"`
	// MarkEmailVerified asks the app to mark the user's email as verified: an
	// admin ticket created with Auth0's mark_email_as_verified, used by the user
	// who received it, proves the address.
	MarkEmailVerified bool `json:"mark_email_verified,omitempty"`
}

// RevokeTicketsRequest is the body of the app's revoke_tickets call to the
// plugin. The plugin cancels the user's open reset links and answers 204.
type RevokeTicketsRequest struct {
	// Connection names the database connection; its hook secret signs the call.
	Connection string `json:"connection"`
	// UserID is the user_id the app returns from get_user.
	UserID string `json:"user_id"`
}

// Reasons for a password change.
const (
	ReasonReset = "reset"
	ReasonAdmin = "admin"
)

// ErrorResponse is the body an app may send with a 4xx answer to change_password to
// refuse the password (its own rules, say). Message is shown to the user.
type ErrorResponse struct {
	Message string `json:"message"`
}
