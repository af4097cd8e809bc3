package reset_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// gate stands between the plugin and the demo app on the change_password hook,
// over real HTTP: it says when a call arrives and holds it, before the app sees
// it (holdBefore) or after the app has answered (the answer is held back).
type gate struct {
	arrived  chan struct{} // a token per call that arrived, if there is room
	answered chan struct{} // with holdAfter: a token per answer the app gave, if there is room
	release  chan struct{} // a send lets one call through
	opened   chan struct{} // closed: every call goes through
	once     sync.Once
	// holdAfter forwards the call at once and holds the app's answer.
	holdAfter bool
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}, 64), answered: make(chan struct{}, 64), release: make(chan struct{}), opened: make(chan struct{})}
}

// open lets every call through, now and later.
func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

func (g *gate) hold() {
	select {
	case <-g.release:
	case <-g.opened:
	}
}

// put places the gate in front of h's app for change_password calls.
func (g *gate) put(t *testing.T, h *harness, timeout time.Duration) {
	t.Helper()
	g.putHook(t, h, hook.ChangePassword, timeout)
}

// putHook places the gate in front of h's app for the calls of one hook.
func (g *gate) putHook(t *testing.T, h *harness, name string, timeout time.Duration) {
	t.Helper()
	appURL := h.App.URL
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.arrived <- struct{}{}:
		default:
		}
		if !g.holdAfter {
			g.hold()
		}
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, appURL+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if g.holdAfter {
			select {
			case g.answered <- struct{}{}:
			default:
			}
			g.hold()
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(answer) //nolint:errcheck // test server
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.open)
	up := h.connection(t)
	gateURL, _ := url.Parse(srv.URL)
	if name == hook.GetUser {
		up.GetUserURL = gateURL.JoinPath("/internal/users/lookup")
	} else {
		up.ChangePasswordURL = gateURL.JoinPath("/internal/users/password")
	}
	if timeout > 0 {
		up.Timeout = timeout
	}
}

// connection returns the harness's upstream, to point it elsewhere before use.
func (h *harness) connection(t *testing.T) *connection.Upstream { return h.Upstream }

func (g *gate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(testenv.Timeout):
		t.Fatal("the change_password call never arrived")
	}
}

func auditTypes(t *testing.T, h *harness) map[string]int {
	t.Helper()
	entries, _, err := h.Admin.AuditLog(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range entries {
		n[e.Type]++
	}
	return n
}

// TestHangUpDuringHookCompletesOnce (issue 8 item 1): a client that hangs up
// while the app's change_password hook runs does not cancel the call: the
// password changes, the ticket is used up, the notice goes out and the audit
// log records the reset; the same link cannot set a password again.
func TestHangUpDuringHookCompletesOnce(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	g := newGate()
	g.put(t, h, 0)
	ctx, hangUp := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.Flow.CompleteReset(ctx, reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword})
		done <- err
	}()
	g.wait(t)
	after := h.Box.LastID()
	hangUp()
	g.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("CompleteReset after the client hung up: %v", err)
	}
	if !h.App.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the password did not change")
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); !errors.Is(err, reset.ErrTicketUsed) {
		t.Errorf("the link after the reset: %v, want used", err)
	}
	if got := auditTypes(t, h)[audit.PasswordReset]; got != 1 {
		t.Errorf("%d scp audit entries, want 1", got)
	}
	if notice := h.Box.WaitMail(t, "alice@example.com", after); !strings.Contains(notice.Subject, "changed") {
		t.Errorf("the mail after the reset is %q, want the password-changed notice", notice.Subject)
	}
	if n := h.App.PasswordChanges(); n != 1 {
		t.Errorf("the app changed %d passwords, want 1", n)
	}
}

// TestHangUpDuringAdminSetPasswordRecorded (issue 8 item 1): the same for PATCH
// /api/v2/users/{id}: the admin's client hangs up while the hook runs; the
// audit entry is written and the user's open link is cancelled.
func TestHangUpDuringAdminSetPasswordRecorded(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	g := newGate()
	g.put(t, h, 0)
	ctx, hangUp := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Admin.SetPassword(ctx, admin.Actor{Name: "ops"}, "user-alice", "", newPassword)
		done <- err
	}()
	g.wait(t)
	hangUp()
	g.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("SetPassword after the client hung up: %v", err)
	}
	if !h.App.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the password did not change")
	}
	if got := auditTypes(t, h)[audit.PasswordSet]; got != 1 {
		t.Errorf("%d admin_password audit entries, want 1", got)
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Errorf("the user's open link after the password was set: %v, want cancelled", err)
	}
}

// TestUnconfirmedChangeClosesTicket (issue 8 item 1): when the app sets the
// password but its answer never comes (the call times out), the outcome is
// uncertain: the ticket is closed as if the password changed, the user is told
// to try the new password, the notice goes out and the audit log says so.
func TestUnconfirmedChangeClosesTicket(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	g := newGate()
	g.holdAfter = true
	g.put(t, h, 300*time.Millisecond)
	after := h.Box.LastID()
	_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword})
	if !errors.Is(err, reset.ErrTicketUnconfirmed) {
		t.Fatalf("a timed-out change: %v, want ErrTicketUnconfirmed", err)
	}
	select { // the app has set the password; only its answer is held
	case <-g.answered:
	case <-time.After(testenv.Timeout):
		t.Fatal("the app never answered")
	}
	if !h.App.CheckPassword("alice@example.com", newPassword) {
		t.Fatal("the app should have changed the password (only its answer was held)")
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); !errors.Is(err, reset.ErrTicketUsed) {
		t.Errorf("the link after an unconfirmed change: %v, want used", err)
	}
	if got := auditTypes(t, h)[audit.PasswordUnconfirmed]; got != 1 {
		t.Errorf("%d scp_unconfirmed audit entries, want 1", got)
	}
	h.Box.WaitMail(t, "alice@example.com", after)
}

// TestSecondSubmitWhileHookRunsWaits (issue 8 item 9): while one submit's hook
// call runs, another submit of the same link is told the change is in progress
// and makes no second call; the claim outlives the longest hook call allowed.
func TestSecondSubmitWhileHookRunsWaits(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	g := newGate()
	g.put(t, h, connection.MaxTimeout)
	done := make(chan error, 1)
	go func() {
		_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword})
		done <- err
	}()
	g.wait(t)
	// The clock moves to just before the longest hook call allowed would time
	// out: the first claim still holds.
	h.Clock.Advance(connection.MaxTimeout - time.Second)
	_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: "Another-Pass-77", Confirm: "Another-Pass-77"})
	if !errors.Is(err, reset.ErrTicketBusy) {
		t.Errorf("a second submit while the hook runs: %v, want ErrTicketBusy", err)
	}
	g.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("the first submit: %v", err)
	}
	if n := h.App.HookCalls("change_password"); n != 1 {
		t.Errorf("the app got %d change_password calls, want 1", n)
	}
	if !h.App.CheckPassword("alice@example.com", newPassword) {
		t.Error("the first submit's password is not the one set")
	}
}
