package demoapp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// Connection is the database connection name the demo's users belong to, as named
// in Caddyfile.example and in the login page's "Forgot your password?" link.
const Connection = "Username-Password-Authentication"

// ClientID is the application's client_id in the plugin's configuration.
const ClientID = "demo-app"

// SeedUser is a user the app starts with, and its password in plain text.
type SeedUser struct {
	hook.User
	Password string
	// PasswordHash, when set, is the argon2id PHC string of Password (from
	// HashPassword), stored as is: thousands of users seeded for a benchmark
	// can share one hash instead of paying argon2id each at start.
	PasswordHash string
}

// HashPassword returns password hashed as the app stores it (argon2id, PHC
// string), for SeedUser.PasswordHash.
func HashPassword(password string) (string, error) { return hashPassword(password) }

// DefaultUsers returns the users a New App starts with when Config.Users is nil.
// Each call returns a fresh slice that the caller may change.
func DefaultUsers() []SeedUser {
	return []SeedUser{
		{User: hook.User{UserID: "user-alice", Email: "alice@example.com", EmailVerified: true,
			Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell", Language: "en"},
			Password: "alice-old-password-1"},
		{User: hook.User{UserID: "user-bob", Email: "bob@example.com", EmailVerified: true,
			Name: "Bob", Nickname: "bob"},
			Password: "bob-old-password-1"},
		{User: hook.User{UserID: "user-carol", Email: "carol@example.com", EmailVerified: true,
			Name: "Carol", Blocked: true},
			Password: "carol-old-password-1"},
	}
}

// Config configures an App.
type Config struct {
	// Secret is the hook secret shared with the plugin (RESET_HOOK_SECRET).
	// Required.
	Secret []byte
	// Users are the users to start with. Nil means DefaultUsers().
	Users []SeedUser
	// Logger receives refused hook calls and other events worth a look.
	// Nil discards them.
	Logger *slog.Logger
	// PluginURL is the base URL of the site that serves the plugin's public
	// routes: after a user changes their password on the app's own page, the app
	// calls PluginURL + /lo/hooks/revoke so that open reset links die. Empty
	// means DefaultPluginURL.
	PluginURL string
	// Client sends the revoke call; nil means a client with a 10-second timeout
	// that follows no redirects.
	Client *http.Client
}

// DefaultPluginURL is where the demo's Caddy serves the plugin
// (Caddyfile.example).
const DefaultPluginURL = "http://localhost:8080"

// App is the demo app. It is safe for concurrent use.
type App struct {
	secret   []byte
	verifier *hook.Verifier // checks the plugin's calls and remembers their IDs
	log      *slog.Logger
	handler  http.Handler
	revoke   revoker

	mu       sync.RWMutex
	users    map[string]*account // by user ID
	byEmail  map[string]string   // strings.ToLower(email) -> user ID
	sessions map[sessionKey]string

	changes   atomic.Int64
	hookCalls map[string]*atomic.Int64 // fixed keys: hook.GetUser, hook.ChangePassword
}

// account is a user as the app stores it.
type account struct {
	user hook.User
	hash string // argon2id PHC string
}

// New returns an App with cfg's users, their passwords hashed.
func New(cfg Config) (*App, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("demoapp: the hook secret is required")
	}
	if cfg.Users == nil {
		cfg.Users = DefaultUsers()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	revoke, err := newRevoker(cfg)
	if err != nil {
		return nil, err
	}
	a := &App{
		secret:   cfg.Secret,
		verifier: &hook.Verifier{Secret: cfg.Secret},
		log:      cfg.Logger,
		revoke:   revoke,
		users:    make(map[string]*account),
		byEmail:  make(map[string]string),
		sessions: make(map[sessionKey]string),
		hookCalls: map[string]*atomic.Int64{
			hook.GetUser:        new(atomic.Int64),
			hook.ChangePassword: new(atomic.Int64),
		},
	}
	for _, u := range cfg.Users {
		if err := a.addUser(u); err != nil {
			return nil, err
		}
	}
	a.handler = a.routes()
	return a, nil
}

func (a *App) addUser(u SeedUser) error {
	if u.UserID == "" || u.Email == "" {
		return fmt.Errorf("demoapp: user %q: user ID and email are required", u.Email)
	}
	key := strings.ToLower(u.Email)
	if _, dup := a.users[u.UserID]; dup {
		return fmt.Errorf("demoapp: duplicate user ID %q", u.UserID)
	}
	if _, dup := a.byEmail[key]; dup {
		return fmt.Errorf("demoapp: duplicate email %q", u.Email)
	}
	hash := u.PasswordHash
	if hash == "" {
		var err error
		if hash, err = hashPassword(u.Password); err != nil {
			return fmt.Errorf("demoapp: user %q: %w", u.Email, err)
		}
	} else if _, err := parsePHC(hash); err != nil {
		return fmt.Errorf("demoapp: user %q: %w", u.Email, err)
	}
	a.users[u.UserID] = &account{user: u.User, hash: hash}
	a.byEmail[key] = u.UserID
	return nil
}

// Handler returns the app's HTTP handler: its pages and its two hooks.
func (a *App) Handler() http.Handler { return a.handler }

// CheckPassword reports whether password is the current password of the user with
// that email. It ignores whether the user is blocked.
func (a *App) CheckPassword(email, password string) bool {
	acc, ok := a.userByEmail(email)
	if !ok {
		return false
	}
	return verifyPassword(acc.hash, password)
}

// PasswordChanges returns how many change_password calls have succeeded.
func (a *App) PasswordChanges() int { return int(a.changes.Load()) }

// HookCalls returns how many calls to the hook named name (hook.GetUser or
// hook.ChangePassword) passed the signature check. Refused calls are not counted.
func (a *App) HookCalls(name string) int {
	if c, ok := a.hookCalls[name]; ok {
		return int(c.Load())
	}
	return 0
}

// Sessions returns how many sessions the user with that email has open.
func (a *App) Sessions(email string) int {
	acc, ok := a.userByEmail(email)
	if !ok {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := 0
	for _, id := range a.sessions {
		if id == acc.user.UserID {
			n++
		}
	}
	return n
}

// userByEmail returns a copy of the account with that email, compared after
// strings.ToLower on both sides.
func (a *App) userByEmail(email string) (account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.byEmail[strings.ToLower(email)]
	if !ok {
		return account{}, false
	}
	return *a.users[id], true
}

// userByID returns a copy of the account with that user ID.
func (a *App) userByID(id string) (account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	acc, ok := a.users[id]
	if !ok {
		return account{}, false
	}
	return *acc, true
}

// setHash stores a new password hash for the user with that ID.
func (a *App) setHash(id, hash string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	acc, ok := a.users[id]
	if ok {
		acc.hash = hash
	}
	return ok
}

// markVerified sets email_verified for the user with that ID.
func (a *App) markVerified(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if acc, ok := a.users[id]; ok {
		acc.user.EmailVerified = true
	}
}

// EmailVerified reports whether the user with that email has a verified address.
func (a *App) EmailVerified(email string) bool {
	acc, ok := a.userByEmail(email)
	return ok && acc.user.EmailVerified
}

// SetBlocked blocks or unblocks the user with that email, as the app's own admin
// would. It reports whether the user exists.
func (a *App) SetBlocked(email string, blocked bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.byEmail[strings.ToLower(email)]
	if ok {
		a.users[id].user.Blocked = blocked
	}
	return ok
}

// ChangeEmail changes a user's address, as the app's own account settings would.
func (a *App) ChangeEmail(from, to string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.byEmail[strings.ToLower(from)]
	if !ok {
		return fmt.Errorf("demoapp: no user %q", from)
	}
	if _, taken := a.byEmail[strings.ToLower(to)]; taken {
		return fmt.Errorf("demoapp: %q is taken", to)
	}
	delete(a.byEmail, strings.ToLower(from))
	a.byEmail[strings.ToLower(to)] = id
	a.users[id].user.Email = to
	return nil
}
