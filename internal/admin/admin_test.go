package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

func adminCode(t *testing.T, err error) string {
	t.Helper()
	f, ok := fault.As(err)
	if !ok {
		t.Fatalf("error %v is not a fault", err)
	}
	return f.Code
}

// TestAdminTicketAndSetPassword: a ticket by id opens like an emailed one and
// is cancelled by a password set by hand; the audit log records both, newest
// first, without the secret parts.
func TestAdminTicketAndSetPassword(t *testing.T) {
	h := newStack(t)
	ctx := context.Background()
	issued, err := h.Admin.CreateTicket(ctx, ops, admin.TicketRequest{UserID: "user-alice", TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if issued.Email != "alice@example.com" || issued.LifetimeText != "10 minutes" ||
		!strings.HasPrefix(issued.URL, "https://app.example.com/lo/reset?ticket=") {
		t.Errorf("issued %+v", issued)
	}
	token := issued.URL[strings.Index(issued.URL, "ticket=")+len("ticket="):]
	if _, err := h.Flow.OpenTicket(ctx, token); err != nil {
		t.Fatalf("the admin ticket does not open: %v", err)
	}
	info, err := h.Admin.FindUser(ctx, conn, "alice@example.com")
	if err != nil || info.OpenTicket == nil || info.OpenTicket.Source != "admin" {
		t.Fatalf("FindUser: %+v %v", info, err)
	}
	if _, _, err := h.Admin.SetPassword(ctx, ops, "user-alice", "", "Correct-Horse-9-battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Flow.OpenTicket(ctx, token); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Errorf("after an admin set the password, the ticket: %v", err)
	}
	if !h.App.CheckPassword("alice@example.com", "Correct-Horse-9-battery") {
		t.Error("password not set")
	}
	if _, _, err := h.Admin.SetPassword(ctx, ops, "user-alice", "", "weak"); adminCode(t, err) != "invalid_password" {
		t.Errorf("weak: %v", err)
	}
	if _, err := h.Admin.CreateTicket(ctx, ops, admin.TicketRequest{UserID: "nobody"}); adminCode(t, err) != "inexistent_user" {
		t.Errorf("unknown user: %v", err)
	}
	entries, total, err := h.Admin.AuditLog(ctx, 0, 10)
	if err != nil || total != 2 || entries[0].Type != audit.PasswordSet || entries[1].Type != audit.TicketCreated ||
		entries[0].Actor != "ops" || entries[0].IP != "192.0.2.1" {
		t.Fatalf("audit %d %+v %v", total, entries, err)
	}
	page, _, _ := h.Admin.AuditLog(ctx, 1, 1)
	if len(page) != 1 || page[0].ID != entries[1].ID {
		t.Errorf("page 1 of 1: %+v", page)
	}
}

// TestTemplateVersionsAndRestore: a refused template changes nothing; a restore
// copies an old version with who and when.
func TestTemplateVersionsAndRestore(t *testing.T) {
	h := newStack(t)
	ctx := context.Background()
	subject := "New {{ application.name }}"
	if _, err := h.Admin.SaveTemplate(ctx, ops, "change_password", admin.TemplatePatch{Subject: &subject}, false, "api"); err != nil {
		t.Fatal(err)
	}
	bad := "<p>{{ user.nmae }}</p>"
	_, err := h.Admin.SaveTemplate(ctx, ops, "reset_email", admin.TemplatePatch{Body: &bad}, false, "api")
	if adminCode(t, err) != "invalid_template" || !strings.Contains(err.Error(), "body, line 1") {
		t.Errorf("unknown variable: %v", err)
	}
	versions, err := h.Admin.TemplateVersions(ctx, "reset_email")
	if err != nil || len(versions) != 2 || versions[0].Author != "ops" || versions[0].Template.Subject != subject {
		t.Fatalf("versions %+v %v", versions, err)
	}
	prev, err := h.Admin.PreviewTemplate(ctx, "reset_email", admin.TemplatePatch{})
	if err != nil || prev.Subject != "New Demo App" || !strings.Contains(prev.HTML, "https://app.example.com/lo/reset?ticket=PREVIEW") {
		t.Errorf("preview %+v %v", prev, err)
	}
	tv, err := h.Admin.RestoreTemplate(ctx, ops, "reset_email", 1)
	if err != nil || tv.Version != 3 || tv.RestoredFrom != 1 || tv.Template.Subject != versions[1].Template.Subject {
		t.Errorf("restore %+v %v", tv, err)
	}
	if _, err := h.Admin.GetTemplate(ctx, "verify_email"); adminCode(t, err) != "inexistent_email_template" {
		t.Errorf("unknown template: %v", err)
	}
}
