package testenv

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/demoapp"
	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// UserPassword is every seeded user's password (StartSeededApp).
const UserPassword = "bench-old-password-1"

// Baseline routes of the seeded app. Caddy reverse_proxies a request to them; the
// app signs the body as the plugin would and hands it to the demo app's hook
// handler, so that the baseline does the work of the hook itself (signature
// check, lookup or argon2id, JSON answer) behind Caddy's own proxy.
const (
	PathBaselineLookup      = "/bench/lookup"
	PathBaselineSetPassword = "/bench/set-password"
)

// App is the demo app served over real HTTP on loopback. It can be taken down
// and served again on the same address, with the same users and counters.
type App struct {
	*demoapp.App
	// URL is the app's base URL (http://host:port), Addr its host:port.
	URL  string
	Addr string

	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

// StartApp serves a new demo app with the default users until the test ends.
func StartApp(t testing.TB) *App {
	t.Helper()
	return StartAppWithUsers(t, nil)
}

// StartAppWithUsers serves a new demo app with users (nil: the default users)
// until the test ends.
func StartAppWithUsers(t testing.TB, users []demoapp.SeedUser) *App {
	t.Helper()
	app, err := demoapp.New(demoapp.Config{Secret: []byte(HookSecret), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	a := &App{App: app, handler: app.Handler()}
	if err := a.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

// StartSeededApp is ListenSeededApp on a free port until the test ends.
func StartSeededApp(t testing.TB, users int) *App {
	t.Helper()
	a, err := ListenSeededApp("127.0.0.1:0", users)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

// UserEmail is the address of seeded user i.
func UserEmail(i int) string { return fmt.Sprintf("user%06d@bench.example", i) }

// ListenSeededApp seeds users users (UserEmail(0) ...) sharing one password hash
// of UserPassword, and serves the app, with the baseline routes, on addr
// ("127.0.0.1:0" for any free port) until Stop.
func ListenSeededApp(addr string, users int) (*App, error) {
	hash, err := demoapp.HashPassword(UserPassword)
	if err != nil {
		return nil, err
	}
	seed := make([]demoapp.SeedUser, users)
	for i := range seed {
		seed[i] = demoapp.SeedUser{User: hook.User{UserID: fmt.Sprintf("u%06d", i), Email: UserEmail(i),
			EmailVerified: true, Name: fmt.Sprintf("User %d", i)}, Password: UserPassword, PasswordHash: hash}
	}
	app, err := demoapp.New(demoapp.Config{Secret: []byte(HookSecret), Users: seed})
	if err != nil {
		return nil, err
	}
	a := &App{App: app}
	mux := http.NewServeMux()
	mux.Handle("POST "+PathBaselineLookup, a.signed(hook.GetUser, "/internal/users/lookup"))
	mux.Handle("POST "+PathBaselineSetPassword, a.signed(hook.ChangePassword, "/internal/users/password"))
	mux.Handle("/", app.Handler())
	a.handler = mux
	if err := a.listen(addr); err != nil {
		return nil, err
	}
	return a, nil
}

// signed hands the request's body, signed for hookName, to the demo app's hook
// at path, in process.
func (a *App) signed(hookName, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		req := httptest.NewRequestWithContext(r.Context(), http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		hook.SetHeaders(req.Header, []byte(HookSecret),
			hook.Signature{Hook: hookName, ID: rand.Text(), Timestamp: time.Now()}, body)
		a.App.Handler().ServeHTTP(w, req)
	})
}

func (a *App) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("demo app: listen: %w", err)
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	a.mu.Lock()
	a.srv, a.Addr, a.URL = srv, ln.Addr().String(), "http://"+ln.Addr().String()
	a.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return nil
}

// Stop takes the app down, closing its connections: its hooks refuse
// connections until Restart.
func (a *App) Stop() {
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.mu.Unlock()
	if srv != nil {
		srv.Close() //nolint:errcheck // the listener's close error: nothing listens either way
	}
}

// Restart serves the same app (same users, same counters) on the same address.
func (a *App) Restart(t testing.TB) {
	t.Helper()
	if err := a.Serve(); err != nil {
		t.Fatal(err)
	}
}

// Serve is Restart for a program (the benchmark): it serves the app again on its
// address after Stop.
func (a *App) Serve() error { return a.listen(a.Addr) }
