// Package testenv starts the real parts that the tests of several packages share:
// the demo app behind its hooks, the mail catcher on a real SMTP port, and the
// helpers that wait for their effects without sleeping.
package testenv

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/demoapp"
	"github.com/caddy-password-reset/caddy-password-reset/examples/mailbox"
)

// HookSecret is the secret the tests' app and plugin share.
const HookSecret = "test-hook-secret-0123456789abcdef"

// Timeout bounds every wait in the tests.
const Timeout = 20 * time.Second

// App is the demo app served over real HTTP on loopback.
type App struct {
	*demoapp.App
	URL  string
	addr string
	srv  *httptest.Server
}

// StartApp serves a new demo app with the default users.
func StartApp(t testing.TB) *App {
	t.Helper()
	return StartAppWithUsers(t, nil)
}

// StartAppWithUsers serves a new demo app with users (nil: the default users).
func StartAppWithUsers(t testing.TB, users []demoapp.SeedUser) *App {
	t.Helper()
	app, err := demoapp.New(demoapp.Config{Secret: []byte(HookSecret), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	a := &App{App: app}
	a.serve(t, "127.0.0.1:0")
	return a
}

func (a *App) serve(t testing.TB, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen for demo app: %v", err)
	}
	a.srv = httptest.NewUnstartedServer(a.App.Handler())
	a.srv.Listener = ln
	a.srv.Start()
	a.addr, a.URL = ln.Addr().String(), "http://"+ln.Addr().String()
	t.Cleanup(a.srv.Close)
}

// Stop takes the app down: its hooks refuse connections until Restart.
func (a *App) Stop() { a.srv.Close() }

// Restart serves the same app (same users, same counters) on the same address.
func (a *App) Restart(t testing.TB) { a.serve(t, a.addr) }

// Mailbox is the mail catcher with its SMTP address.
type Mailbox struct {
	*mailbox.Box
	Addr string
}

// StartMailbox starts a mail catcher on a free loopback port.
func StartMailbox(t testing.TB) *Mailbox {
	t.Helper()
	return StartMailboxAt(t, "127.0.0.1:0")
}

// StartMailboxAt starts a mail catcher on addr.
func StartMailboxAt(t testing.TB, addr string) *Mailbox {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen for SMTP: %v", err)
	}
	box := mailbox.New(mailbox.Config{})
	go box.ServeSMTP(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { box.Close() })
	return &Mailbox{Box: box, Addr: ln.Addr().String()}
}

// FreeAddr returns a loopback address nothing listens on (yet): a mail server that
// is down, to be started there later.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// WaitMail waits for a message to `to` whose ID is above after.
func (m *Mailbox) WaitMail(t testing.TB, to string, after int) mailbox.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	msg, err := m.Wait(ctx, func(msg mailbox.Message) bool {
		return msg.ID > after && len(msg.EnvelopeTo) == 1 && strings.EqualFold(msg.EnvelopeTo[0], to)
	})
	if err != nil {
		t.Fatalf("no mail to %s: %v", to, err)
	}
	return msg
}

// WaitResetMail waits for a reset email (one with a reset link) to `to` whose ID
// is above after; other mail to the same address (the "password changed" notice)
// is passed over.
func (m *Mailbox) WaitResetMail(t testing.TB, to string, after int) mailbox.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	msg, err := m.Wait(ctx, func(msg mailbox.Message) bool {
		return msg.ID > after && len(msg.EnvelopeTo) == 1 && strings.EqualFold(msg.EnvelopeTo[0], to) &&
			slices.ContainsFunc(msg.Links, func(l string) bool { return strings.Contains(l, "/lo/reset?ticket=") })
	})
	if err != nil {
		t.Fatalf("no reset mail to %s: %v", to, err)
	}
	return msg
}

// LastID returns the ID of the newest message, 0 if none.
func (m *Mailbox) LastID() int {
	msgs := m.Messages()
	if len(msgs) == 0 {
		return 0
	}
	return msgs[len(msgs)-1].ID
}

// ResetLink returns the reset link in msg.
func ResetLink(t testing.TB, msg mailbox.Message) string {
	t.Helper()
	for _, l := range msg.Links {
		if strings.Contains(l, "/lo/reset?ticket=") {
			return l
		}
	}
	t.Fatalf("no reset link in mail %q: %v", msg.Subject, msg.Links)
	return ""
}

// Ticket returns the ticket in a reset link.
func Ticket(t testing.TB, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "ticket=")
	if !ok || tok == "" {
		t.Fatalf("no ticket in %s", link)
	}
	return tok
}

// Eventually waits until cond holds, checking it every few milliseconds. It is for
// effects that leave no event to wait on (a queue that drains); it fails the test
// after Timeout.
func Eventually(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(5 * time.Millisecond)
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
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// NoRedirects is an HTTP client that returns redirects instead of following them.
func NoRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
