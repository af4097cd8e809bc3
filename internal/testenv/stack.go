package testenv

import (
	"context"
	"net/url"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// KeySecret is the stack's encryption_key.
const KeySecret = "testenv-keyring-secret-0123456789abcdef"

// Stack is the flow and the admin service on real parts: a Badger store on
// disk, the demo app's hooks over HTTP, a real SMTP server.
type Stack struct {
	*service.Services
	Store storage.Store
	Clock *Clock
	App   *App
	// Box is the mail catcher; nil when the stack mails elsewhere.
	Box *Mailbox
	// Upstream is the connection's hook client, for tests that put something
	// between it and the app.
	Upstream *connection.Upstream
}

// StackOptions choose the stack's parts: the app (nil: the demo app with the
// default users) and the SMTP address (empty: a new mail catcher). Configure,
// if set, changes the services' configuration knowing the stack's parts (its
// upstream, say), before the options of NewStackWith.
type StackOptions struct {
	App       *App
	SMTPAddr  string
	Configure func(*Stack, *service.Config)
}

// NewStack starts a stack with the default parts; opts change the services'
// configuration before they start. It stops at the end of the test.
func NewStack(t testing.TB, opts ...func(*service.Config)) *Stack {
	t.Helper()
	return NewStackWith(t, StackOptions{}, opts...)
}

// NewStackWith starts a stack on the parts so chooses.
func NewStackWith(t testing.TB, so StackOptions, opts ...func(*service.Config)) *Stack {
	t.Helper()
	s := &Stack{Clock: &Clock{}, App: so.App}
	if s.App == nil {
		s.App = StartApp(t)
	}
	store, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s.Store = store
	if so.SMTPAddr == "" {
		s.Box = StartMailbox(t)
		so.SMTPAddr = s.Box.Addr
	}
	sender, err := mail.NewSender(mail.Config{Addr: so.SMTPAddr, Security: mail.SecurityPlain}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	keys, err := keyring.FromSecret(KeySecret)
	if err != nil {
		t.Fatal(err)
	}
	public, _ := url.Parse("https://app.example.com")
	appURL, _ := url.Parse(s.App.URL)
	s.Upstream = &connection.Upstream{Connection: Conn, Secret: []byte(HookSecret),
		GetUserURL: appURL.JoinPath("/internal/users/lookup"), ChangePasswordURL: appURL.JoinPath("/internal/users/password")}
	cfg := service.Config{
		Site: reset.Site{
			PublicURL: public,
			Connections: map[string]*reset.Connection{
				Conn: {Name: Conn, Kind: users.Database, Policy: policy.Policy{Level: policy.LevelGood},
					Users: connection.NewDirectory(Conn, s.Upstream)},
				"google-oauth2": {Name: "google-oauth2", Kind: users.Social},
			},
			Clients:       map[string]*reset.Client{"demo-app": {ID: "demo-app", Name: "Demo App", ResultURL: "https://app.example.com/login?from=reset"}},
			DefaultClient: "demo-app",
			DefaultFrom:   "Example <no-reply@example.com>",
			FriendlyName:  "Example",
		},
		Store: store, Keys: keys, Transport: sender, Now: s.Clock.Now,
	}
	if so.Configure != nil {
		so.Configure(s, &cfg)
	}
	for _, o := range opts {
		o(&cfg)
	}
	if s.Services, err = service.New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Drained waits until no job or mail is pending.
func (s *Stack) Drained(t testing.TB) {
	t.Helper()
	Drained(t, s.Services)
}

// Drained waits until svc has no pending job or mail: the stack's, or those of
// the plugin in a running Caddy.
func Drained(t testing.TB, svc *service.Services) {
	t.Helper()
	Eventually(t, "queues to drain", func() (bool, error) {
		st, err := svc.Admin.Stats(context.Background())
		return st.Jobs.Pending == 0 && st.Mail.Pending == 0, err
	})
}
