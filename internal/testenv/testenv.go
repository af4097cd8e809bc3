// Package testenv is the one test stack: it starts the real parts that the tests
// of every package share, and holds the helpers that wait for their effects
// without sleeping.
//
//   - the demo app over HTTP (App: StartApp, or StartSeededApp with thousands of
//     users and the benchmark's baseline routes);
//   - mail: the catcher (Mailbox, examples/mailbox on a real SMTP port) for tests
//     that read what was sent, and the Sink, a lean SMTP server that counts
//     deliveries at benchmark rates and can be made to fail as relays fail
//     (refused AUTH, 4xx/5xx, stalls, dropped connections, down and up), with
//     StartBlackHole for a peer that never answers;
//   - the services on those parts (Stack), or Caddy as the built binary (Caddy,
//     CaddyConfig, Build);
//   - one fake clock (Clock: running with an offset, or frozen), one polling
//     helper (Eventually, Poll), FreeAddr and FreePorts, a log recorder (Logs).
//
// A Start function binds its part to a test (stopped by t.Cleanup, failing t when
// it cannot start); the Listen functions and the Caddy runner return errors
// instead, for the benchmark command (bench/), which uses the same parts.
//
// Packages below internal/service (queue, mail, ratelimit, ...) can use testenv
// only from external test packages (package x_test): testenv imports service.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// HookSecret is the secret the tests' app and plugin share.
const HookSecret = "test-hook-secret-0123456789abcdef"

// AdminToken opens the admin site of CaddyConfig (the Management API's outbox
// list, say).
const AdminToken = "testenv-admin-token-0123456789abcdef"

// Conn is the database connection, named as in Caddyfile.example and the demo app.
const Conn = "Username-Password-Authentication"

// ClientID is the client of CaddyConfig's Caddyfile.
const ClientID = "bench-app"

// Timeout bounds every wait in the tests; reaching it fails the test, it never
// paces it.
const Timeout = 20 * time.Second

// Eventually waits until cond holds, checking it every 5 ms, and fails the test
// after Timeout, or at once when cond returns an error. It is for effects that
// leave no event to wait on (a queue that drains).
func Eventually(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	Poll{}.Eventually(t, what, cond)
}

// Poll is how Eventually waits: at most Timeout (zero: the package's Timeout),
// checking every Every (zero: 5 ms). The fault tests wait longer (a lease must
// run out) and check less often (each check asks Caddy over HTTP).
type Poll struct {
	Timeout time.Duration
	Every   time.Duration
}

// Eventually is the package's Eventually with p's bounds.
func (p Poll) Eventually(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	if p.Timeout == 0 {
		p.Timeout = Timeout
	}
	if p.Every == 0 {
		p.Every = 5 * time.Millisecond
	}
	deadline := time.Now().Add(p.Timeout)
	tick := time.NewTicker(p.Every)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", p.Timeout, what)
		}
		<-tick.C
	}
}

// FreeAddr returns a loopback address nothing listens on (yet): a server that is
// down, to be started there later.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

// FreePorts returns n distinct loopback TCP ports that nothing listened on a
// moment ago.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// NoRedirects is an HTTP client that returns redirects instead of following them.
func NoRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Module is the plugin's module path; Root looks for its go.mod.
const Module = "github.com/caddy-password-reset/caddy-password-reset"

// Root returns the repository's root: the nearest directory at or above the
// working directory whose go.mod declares Module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module "+Module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: not inside the caddy-password-reset repository")
		}
		dir = parent
	}
}

// Build runs ./xcaddy.sh build in root (nothing to do when bin/caddy is fresh) and
// returns the path of bin/caddy.
func Build(root string) (string, error) {
	cmd := exec.Command("./xcaddy.sh", "build")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("./xcaddy.sh build: %w\n%s", err, out)
	}
	return filepath.Join(root, "bin", "caddy"), nil
}

// MainWithCaddy is the TestMain of a package whose tests run bin/caddy: it
// builds it (Build), sets *bin to its path and runs the tests; a failed build
// ends the run with the error, named after pkg.
func MainWithCaddy(m *testing.M, pkg string, bin *string) {
	root, err := Root()
	if err == nil {
		*bin, err = Build(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, pkg+":", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
