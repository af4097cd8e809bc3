// Package demoapp is a tiny web app that sits behind Caddy and the password-reset
// plugin, the way a real app would: it keeps its own users, has a login page, and
// answers the plugin's two signed hooks. It is the demo and the app of the
// end-to-end tests, which start it in-process with httptest; cmd/demoapp runs it
// on its own.
//
// # Users
//
// Users live in memory and are seeded at start (see DefaultUsers):
//
//	email               password              name            note
//	alice@example.com   alice-old-password-1  Alice Liddell
//	bob@example.com     bob-old-password-1    Bob
//	carol@example.com   carol-old-password-1  Carol           blocked: no reset, no login
//
// Passwords are stored as argon2id PHC strings with the OWASP minimum parameters
// (m=19456 KiB, t=2, p=1) and compared in constant time. A password set through
// the change_password hook or the app's own change-password page replaces the
// seeded one until the process exits.
//
// # Routes
//
//	GET  /                        home: "Signed in as …" or a link to /login
//	GET  /login                   login form; shows Auth0's success/message/email
//	                              query parameters after a reset as a banner
//	POST /login                   signs in; session cookie (HttpOnly, SameSite=Lax)
//	POST /logout                  signs out
//	GET  /account/password        change-password form (signed-in users)
//	POST /account/password        checks the current password, sets the new one,
//	                              then calls the plugin's revoke endpoint
//	POST /internal/users/lookup   hook get_user
//	POST /internal/users/password hook change_password
//
// The login page links to /lo/forgot, which the plugin serves through Caddy.
//
// # Hooks
//
// Both hooks check the call with one hook.Verifier (signature, time window, and
// a call ID not seen before) and the secret shared with the Caddyfile, and answer
// 401 with no detail when it does not pass. Every other answer is signed through
// the verified hook.Call (hook protocol v2): the plugin refuses unsigned answers.
// get_user compares emails after strings.ToLower on both sides: simpler than the
// strict rule (local part exact, domain case-insensitive) and what most apps do;
// a call with user_id (admin tickets, the Management API) looks the user up by id.
// It answers 200 with a hook.User, blocked users included (the plugin refuses them),
// or 404. The app has one user database, so the calls' connection field is not
// checked. change_password finds the user by user_id, refuses with 422 and a
// hook.ErrorResponse a password equal to the current one, stores the new hash,
// ends the user's sessions when asked, marks the email verified when asked
// (mark_email_verified), and answers 204.
//
// # Revoking reset links
//
// A password changed on the app's own page leaves the user's open reset links
// alive in the plugin, so the page then makes the signed revoke_tickets call to
// Config.PluginURL + /lo/hooks/revoke, checks the plugin's signed 204, and says
// so on the page when the call fails (the password has changed all the same).
package demoapp
