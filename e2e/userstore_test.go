package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-password-reset/caddy-password-reset/caddymodule"
	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// memoryStore is a third-party user store, written as the README's
// "Extension points" tells one to be: a module of the password_reset.connections
// namespace that only this test binary registers, using only the public
// packages (caddymodule, hook). Its users are listed in the Caddyfile:
//
//	store memory {
//		user alice@example.com
//	}
type memoryStore struct {
	Users []string `json:"users,omitempty"`
}

// memoryPasswords is what the store was told to set, by user id: the module
// values Caddy makes are its own, so the test reads them here.
var memoryPasswords sync.Map

func init() { caddy.RegisterModule(memoryStore{}) }

func (memoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "password_reset.connections.memory",
		New: func() caddy.Module { return new(memoryStore) },
	}
}

func (m *memoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module's name
	for d.NextBlock(0) {
		if d.Val() != "user" || !d.NextArg() {
			return d.Err("want: user <email>")
		}
		m.Users = append(m.Users, d.Val())
	}
	return nil
}

func (m *memoryStore) GetUser(_ context.Context, req hook.GetUserRequest) (*hook.User, error) {
	for _, email := range m.Users {
		id := "memory|" + email
		if strings.EqualFold(email, req.Email) || id == req.UserID {
			return &hook.User{UserID: id, Email: email, EmailVerified: true}, nil
		}
	}
	return nil, caddymodule.ErrUserNotFound
}

func (m *memoryStore) ChangePassword(_ context.Context, req hook.ChangePasswordRequest) error {
	if strings.Contains(strings.ToLower(req.Password), "memory") {
		return &caddymodule.RefusedError{Message: "The store refuses passwords that name it."}
	}
	memoryPasswords.Store(req.UserID, req.Password)
	return nil
}

var (
	_ caddymodule.UserStore = (*memoryStore)(nil)
	_ caddyfile.Unmarshaler = (*memoryStore)(nil)
)

// TestThirdPartyUserStore: a user store added as a Caddy module takes the place
// of the app's hooks in the Caddyfile (`store memory { ... }`), and a whole reset
// runs through it: the lookup decides who gets mail, the new password reaches the
// store, and the store's own refusal is shown on the form.
func TestThirdPartyUserStore(t *testing.T) {
	s := startStack(t, &stack{users: "store memory {\n\t\t\t\tuser carol@example.com\n\t\t\t}"})
	// alice is the demo app's user, not the store's: she gets no mail.
	s.requestReset("alice@example.com")
	link := s.resetLink("carol@example.com")
	s.drained()
	for _, msg := range s.box.Messages() {
		if slices.ContainsFunc(msg.EnvelopeTo, func(to string) bool { return to != "carol@example.com" }) {
			t.Errorf("mail to %v, who is not in the store", msg.EnvelopeTo)
		}
	}

	csrf := s.openForm(link)
	form := func(password string) (*http.Response, string) {
		return s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
			"_csrf": {csrf}, "newPassword": {password}, "confirmNewPassword": {password},
		}.Encode())
	}
	refused := "Memory-Horse-9-battery"
	resp, page := form(refused)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "The store refuses passwords that name it.") {
		t.Fatalf("the store's refusal: %d\n%s", resp.StatusCode, page)
	}
	if _, set := memoryPasswords.Load("memory|carol@example.com"); set {
		t.Fatal("a refused password was stored")
	}
	if resp, page = form(newPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST reset: %d\n%s", resp.StatusCode, page)
	}
	if got, _ := memoryPasswords.Load("memory|carol@example.com"); got != newPassword {
		t.Errorf("the store holds %v, want the new password", got)
	}
}
