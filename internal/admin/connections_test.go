package admin_test

import (
	"context"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// withSecondDatabase adds a second database connection to the same app: two
// apps behind one plugin may use the same user ids.
func withSecondDatabase(s *testenv.Stack) func(*service.Config) {
	return func(c *service.Config) {
		other := &connection.Upstream{Connection: "Other-DB", Secret: s.Upstream.Secret,
			GetUserURL: s.Upstream.GetUserURL, ChangePasswordURL: s.Upstream.ChangePasswordURL}
		c.Site.Connections["Other-DB"] = &reset.Connection{Name: "Other-DB", Kind: users.Database,
			Policy: c.Site.Connections[testenv.Conn].Policy, Users: connection.NewDirectory("Other-DB", other)}
	}
}

// TestSetPasswordNeedsConnectionWithSeveral (issue 8 item 10): with more than one
// database connection, PATCH /api/v2/users/{id} without a connection is refused
// and calls no app, since the id could be another app's user; with the
// connection named it works. An admin ticket by user id alone is refused when
// the id exists in two connections.
func TestSetPasswordNeedsConnectionWithSeveral(t *testing.T) {
	h := newStack(t, func(s *testenv.Stack, c *service.Config) { withSecondDatabase(s)(c) })
	ctx := context.Background()
	_, _, err := h.Admin.SetPassword(ctx, ops, "user-bob", "", newPassword)
	if f, ok := fault.As(err); !ok || f.Kind != fault.Invalid {
		t.Fatalf("without a connection: %v, want Invalid", err)
	}
	if n := h.App.HookCalls("change_password") + h.App.HookCalls("get_user"); n != 0 {
		t.Errorf("the refused call reached the app %d times", n)
	}
	if _, name, err := h.Admin.SetPassword(ctx, ops, "user-bob", "Other-DB", newPassword); err != nil || name != "Other-DB" {
		t.Fatalf("with the connection: %q %v", name, err)
	}
	if !h.App.CheckPassword("bob@example.com", newPassword) {
		t.Error("the password was not set")
	}
	_, err = h.Admin.CreateTicket(ctx, ops, admin.TicketRequest{UserID: "user-bob"})
	if f, ok := fault.As(err); !ok || f.Code != "ambiguous_user" {
		t.Errorf("a ticket for an id two connections know: %v, want ambiguous_user", err)
	}
}
