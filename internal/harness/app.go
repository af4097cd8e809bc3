// Package harness runs the real parts around a built Caddy for the benchmark
// harness (bench/) and the fault tests (faults/): the demo app with many seeded
// users, a lean SMTP sink that counts deliveries by Message-ID, and bin/caddy as
// a child process that can be reloaded, killed and measured. It does not import
// testing, so the benchmark command uses it too.
package harness

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/demoapp"
	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// HookSecret is the hook secret the harness's app and Caddy share.
const HookSecret = "harness-hook-secret-0123456789abcdef"

// Connection is the database connection's name in the harness's configs.
const Connection = demoapp.Connection

// UserPassword is every seeded user's password.
const UserPassword = "bench-old-password-1"

// Baseline routes of the bench app. Caddy reverse_proxies a request to them; the
// app signs the body as the plugin would and hands it to the demo app's hook
// handler, so that the baseline does the work of the hook itself (signature
// check, lookup or argon2id, JSON answer) behind Caddy's own proxy.
const (
	PathBaselineLookup      = "/bench/lookup"
	PathBaselineSetPassword = "/bench/set-password"
)

// App is the demo app serving many seeded users over HTTP on loopback.
type App struct {
	*demoapp.App
	Addr string

	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

// UserEmail is the address of seeded user i.
func UserEmail(i int) string { return fmt.Sprintf("user%06d@bench.example", i) }

// StartApp seeds users users (user000000@bench.example ...) sharing one password
// hash, and serves the app on addr ("127.0.0.1:0" for any free port).
func StartApp(addr string, users int) (*App, error) {
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
	if err := a.serve(addr); err != nil {
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

func (a *App) serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("app: listen: %w", err)
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	a.mu.Lock()
	a.srv, a.Addr = srv, ln.Addr().String()
	a.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return nil
}

// URL is the app's base URL.
func (a *App) URL() string { return "http://" + a.Addr }

// Stop takes the app down: its hooks refuse connections until Restart.
func (a *App) Stop() error {
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Restart serves the same app (same users) on the same address again.
func (a *App) Restart() error { return a.serve(a.Addr) }
