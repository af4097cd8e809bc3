package reset_test

import (
	"context"
	"errors"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

// withSecondDatabase adds a second database connection to the same app: two
// apps behind one plugin may use the same user ids.
func withSecondDatabase(c *reset.Config) {
	first := c.Connections[conn]
	up := first.Users.(*connection.Upstream)
	other := &connection.Upstream{Connection: "Other-DB", Secret: up.Secret, GetUserURL: up.GetUserURL, ChangePasswordURL: up.ChangePasswordURL}
	c.Connections["Other-DB"] = &reset.Connection{Name: "Other-DB", Kind: connection.Database, Policy: first.Policy, Users: other}
}

// TestSetPasswordNeedsConnectionWithSeveral (issue 8 item 10): with more than one
// database connection, PATCH /api/v2/users/{id} without a connection is refused
// and calls no app, since the id could be another app's user; with the
// connection named it works. An admin ticket by user id alone is refused when
// the id exists in two connections.
func TestSetPasswordNeedsConnectionWithSeveral(t *testing.T) {
	h := newHarness(t, "", withSecondDatabase)
	ctx := context.Background()
	admin := reset.Actor{Name: "ops"}
	_, _, err := h.svc.SetPassword(ctx, admin, "user-bob", "", newPassword)
	var ae *reset.AdminError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("without a connection: %v, want a 400", err)
	}
	if n := h.app.HookCalls("change_password") + h.app.HookCalls("get_user"); n != 0 {
		t.Errorf("the refused call reached the app %d times", n)
	}
	if _, name, err := h.svc.SetPassword(ctx, admin, "user-bob", "Other-DB", newPassword); err != nil || name != "Other-DB" {
		t.Fatalf("with the connection: %q %v", name, err)
	}
	if !h.app.CheckPassword("bob@example.com", newPassword) {
		t.Error("the password was not set")
	}
	_, err = h.svc.CreateTicket(ctx, admin, reset.TicketRequest{UserID: "user-bob"})
	if !errors.As(err, &ae) || ae.Code != "ambiguous_user" {
		t.Errorf("a ticket for an id two connections know: %v, want ambiguous_user", err)
	}
}
