package demoapp

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// TestLookupByUserID: get_user with user_id (admin tickets, the Management API)
// finds the user by id; an unknown id is a 404. change_password with
// mark_email_verified marks the address verified.
func TestLookupByUserID(t *testing.T) {
	app, srv := newServer(t)
	base := srv.URL
	status, body := callHook(t, base, lookupPath, testSecret, hook.GetUser,
		hook.GetUserRequest{Connection: Connection, UserID: "user-bob"})
	var u hook.User
	if status != http.StatusOK || json.Unmarshal([]byte(body), &u) != nil || u.Email != "bob@example.com" {
		t.Fatalf("lookup by id: %d %s", status, body)
	}
	if status, _ := callHook(t, base, lookupPath, testSecret, hook.GetUser,
		hook.GetUserRequest{Connection: Connection, UserID: "user-nobody"}); status != http.StatusNotFound {
		t.Errorf("unknown id: %d", status)
	}
	app.mu.Lock()
	app.users["user-bob"].user.EmailVerified = false
	app.mu.Unlock()
	status, body = callHook(t, base, passwordPath, testSecret, hook.ChangePassword, hook.ChangePasswordRequest{
		Connection: Connection, UserID: "user-bob", Password: "Bob-new-password-2", Reason: hook.ReasonReset,
		MarkEmailVerified: true,
	})
	if status != http.StatusNoContent || !app.EmailVerified("bob@example.com") {
		t.Errorf("change_password with mark_email_verified: %d %s, verified %v", status, body, app.EmailVerified("bob@example.com"))
	}
}
