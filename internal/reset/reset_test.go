package reset_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const conn = "Username-Password-Authentication"

// harness is the flow and the admin service on real parts (testenv.Stack).
type harness struct {
	*testenv.Stack
}

type option = func(*service.Config)

func newHarness(t *testing.T, smtpAddr string, opts ...option) *harness {
	t.Helper()
	return &harness{testenv.NewStackWith(t, testenv.StackOptions{SMTPAddr: smtpAddr}, opts...)}
}

// newHarnessWithApp is newHarness in front of app.
func newHarnessWithApp(t *testing.T, app *testenv.App, smtpAddr string, opts ...option) *harness {
	t.Helper()
	return &harness{testenv.NewStackWith(t, testenv.StackOptions{App: app, SMTPAddr: smtpAddr}, opts...)}
}

// request asks for a reset and returns the ticket from the email that arrives.
func (h *harness) request(t *testing.T, email, to string) string {
	t.Helper()
	after := h.Box.LastID()
	if _, err := h.Flow.RequestReset(context.Background(), reset.Request{ClientID: "demo-app", Email: email, Connection: conn}); err != nil {
		t.Fatalf("RequestReset: %v", err)
	}
	msg := h.Box.WaitResetMail(t, to, after)
	return testenv.Ticket(t, testenv.ResetLink(t, msg))
}

// drained waits until no job or mail is pending.
func (h *harness) drained(t *testing.T) { h.Drained(t) }

const newPassword = "Correct-Horse-9-battery"

func TestResetFlow(t *testing.T) {
	h := newHarness(t, "")
	after := h.Box.LastID()
	if _, err := h.Flow.RequestReset(context.Background(), reset.Request{ClientID: "demo-app", Email: "alice@example.com", Connection: conn}); err != nil {
		t.Fatal(err)
	}
	msg := h.Box.WaitMail(t, "alice@example.com", after)
	link := testenv.ResetLink(t, msg)
	if !strings.HasPrefix(link, "https://app.example.com/lo/reset?ticket=") {
		t.Errorf("link %q is not built on the public URL", link)
	}
	if msg.Subject != "Reset your password" || !strings.Contains(msg.Text, "expires in 1 hour") {
		t.Errorf("unexpected mail: subject %q, text %q", msg.Subject, msg.Text)
	}
	ticket := testenv.Ticket(t, link)
	info, err := h.Flow.OpenTicket(context.Background(), ticket)
	if err != nil || info.Email != "alice@example.com" || info.AppName != "Demo App" {
		t.Fatalf("OpenTicket = %+v, %v", info, err)
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); err != nil {
		t.Fatalf("opening the link twice used it up: %v", err)
	}
	done, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword})
	if err != nil {
		t.Fatalf("CompleteReset: %v", err)
	}
	u, _ := url.Parse(done.RedirectURL)
	q := u.Query()
	if u.Host != "app.example.com" || q.Get("from") != "reset" || q.Get("success") != "true" ||
		q.Get("message") != reset.SuccessMessage || q.Get("email") != "alice@example.com" {
		t.Errorf("redirect %s lacks Auth0's parameters", done.RedirectURL)
	}
	if !h.App.CheckPassword("alice@example.com", newPassword) {
		t.Error("the app's password did not change")
	}
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: "Another-Pass-77", Confirm: "Another-Pass-77"}); !errors.Is(err, reset.ErrTicketUsed) {
		t.Errorf("second use: got %v, want ErrTicketUsed", err)
	}
}

func TestMailGoesToTheAddressTheAppReturned(t *testing.T) {
	h := newHarness(t, "")
	// The demo app matches case-insensitively; the mail must go to its stored
	// address, never to the string that was typed (Django CVE-2019-19844).
	h.request(t, "  ALICE@Example.COM ", "alice@example.com")
	for _, m := range h.Box.Messages() {
		if len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != "alice@example.com" || m.To != "<alice@example.com>" {
			t.Errorf("mail went to %v (To: %s)", m.EnvelopeTo, m.To)
		}
	}
}

func TestUnknownAndBlockedUsersGetNoMail(t *testing.T) {
	h := newHarness(t, "")
	for _, email := range []string{"nobody@example.com", "carol@example.com"} {
		if _, err := h.Flow.RequestReset(context.Background(), reset.Request{Email: email, Connection: conn}); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
	}
	testenv.Eventually(t, "both lookups", func() (bool, error) { return h.App.HookCalls("get_user") == 2, nil })
	h.drained(t)
	if n := h.Box.Count(); n != 0 {
		t.Errorf("%d mails sent for an unknown and a blocked user", n)
	}
}

func TestRequestValidation(t *testing.T) {
	h := newHarness(t, "")
	cases := []struct {
		name string
		req  reset.Request
		code string
	}{
		{"missing email", reset.Request{Connection: conn}, "invalid_request"},
		{"missing connection", reset.Request{Email: "a@example.com"}, "invalid_request"},
		{"unknown connection", reset.Request{Email: "a@example.com", Connection: "nope"}, "bad.connection"},
		{"social connection", reset.Request{Email: "a@example.com", Connection: "google-oauth2"}, "bad.connection"},
		{"unknown client", reset.Request{Email: "a@example.com", Connection: conn, ClientID: "nope"}, "invalid_client"},
		{"CRLF in email", reset.Request{Email: "a@example.com\r\nBcc: x@evil.test", Connection: conn}, "invalid_request"},
		{"display name", reset.Request{Email: "Eve <a@example.com>", Connection: conn}, "invalid_request"},
		{"two addresses", reset.Request{Email: "a@example.com, b@example.com", Connection: conn}, "invalid_request"},
		{"too long", reset.Request{Email: strings.Repeat("a", 250) + "@example.com", Connection: conn}, "invalid_request"},
		{"invalid UTF-8", reset.Request{Email: "a\xff@example.com", Connection: conn}, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.Flow.RequestReset(context.Background(), c.req)
			re, ok := fault.As(err)
			if !ok || re.Code != c.code || re.Kind != fault.Invalid {
				t.Fatalf("got %v, want a 400 %s", err, c.code)
			}
		})
	}
	st, err := h.Admin.Stats(context.Background())
	if err != nil || st.Jobs.Pending != 0 {
		t.Errorf("refused requests left jobs: %+v, %v", st, err)
	}
}

func TestTicketExpiry(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	h.Clock.Advance(emailtemplates.DefaultURLLifetime - time.Second)
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	h.Clock.Advance(time.Second)
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); !errors.Is(err, reset.ErrTicketExpired) {
		t.Fatalf("at expiry OpenTicket: got %v, want ErrTicketExpired", err)
	}
	// The POST checks expiry too (Flarum CVE-2026-39923).
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword}); !errors.Is(err, reset.ErrTicketExpired) {
		t.Fatalf("at expiry CompleteReset: got %v, want ErrTicketExpired", err)
	}
	if h.App.PasswordChanges() != 0 {
		t.Error("an expired ticket changed the password")
	}
}

func TestNewerTicketCancelsOlder(t *testing.T) {
	h := newHarness(t, "")
	first := h.request(t, "alice@example.com", "alice@example.com")
	second := h.request(t, "alice@example.com", "alice@example.com")
	if _, err := h.Flow.OpenTicket(context.Background(), first); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Fatalf("older ticket: got %v, want ErrTicketSuperseded", err)
	}
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: second, Password: newPassword, Confirm: newPassword}); err != nil {
		t.Fatalf("newest ticket: %v", err)
	}
}

func TestUsingOneTicketCancelsTheUsersOthers(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "bob@example.com", "bob@example.com")
	other := h.request(t, "alice@example.com", "alice@example.com")
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Flow.OpenTicket(context.Background(), other); err != nil {
		t.Errorf("another user's ticket was touched: %v", err)
	}
}

func TestTamperedTickets(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	flip := []byte(ticket)
	flip[10] ^= 0x01
	for name, tok := range map[string]string{
		"one character changed": string(flip),
		"truncated":             ticket[:len(ticket)-1],
		"extended":              ticket + "A",
		"empty":                 "",
		"not base64url":         strings.Repeat("*", len(ticket)),
		"prefix of the ticket":  ticket[:20],
	} {
		if _, err := h.Flow.OpenTicket(context.Background(), tok); !errors.Is(err, reset.ErrTicketInvalid) {
			t.Errorf("%s: got %v, want ErrTicketInvalid", name, err)
		}
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); err != nil {
		t.Errorf("the real ticket no longer works: %v", err)
	}
}

func TestConcurrentSubmitsOneWins(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	const n = 50
	var wins, used atomic.Int64
	var start, wg sync.WaitGroup
	start.Add(1)
	for range n {
		wg.Go(func() {
			start.Wait()
			_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, reset.ErrTicketUsed), errors.Is(err, reset.ErrTicketBusy):
				used.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	start.Done()
	wg.Wait()
	if wins.Load() != 1 || used.Load() != n-1 {
		t.Errorf("%d submits won and %d were told the link was used or in use; want 1 and %d", wins.Load(), used.Load(), n-1)
	}
	if c := h.App.PasswordChanges(); c != 1 {
		t.Errorf("the app saw %d password changes, want 1", c)
	}
}

func TestWeakPasswordKeepsTicket(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: "weak", Confirm: "weak"})
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Name != "PasswordStrengthError" {
		t.Fatalf("got %v, want a PasswordStrengthError", err)
	}
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword + "x"}); !errors.Is(err, reset.ErrPasswordsDiffer) {
		t.Fatalf("mismatch: got %v, want a FormError", err)
	}
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword}); err != nil {
		t.Fatalf("the ticket was spent by refused attempts: %v", err)
	}
}

func TestHookFailureLeavesTicketUsable(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	h.App.Stop()
	_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword})
	if ta, ok := fault.As(err); !ok || !errors.Is(err, reset.ErrAppUnavailable) || !strings.Contains(ta.Message, "try again") {
		t.Fatalf("app down: got %v, want a TryAgainError", err)
	}
	h.App.Restart(t)
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword}); err != nil {
		t.Fatalf("after the app came back: %v", err)
	}
	if !h.App.CheckPassword("alice@example.com", newPassword) {
		t.Error("password not changed")
	}
}

func TestAppRefusalIsShownAndTicketKept(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	// The demo app refuses the current password as the new one.
	_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: "alice-old-password-1", Confirm: "alice-old-password-1"})
	if ar, ok := fault.As(err); !ok || ar.Kind != fault.Refused || !strings.Contains(ar.Message, "differ") {
		t.Fatalf("got %v, want the app's refusal", err)
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); err != nil {
		t.Fatalf("refusal spent the ticket: %v", err)
	}
}

func TestAppDownWhenRequestedJobWaits(t *testing.T) {
	h := newHarness(t, "")
	h.App.Stop()
	if _, err := h.Flow.RequestReset(context.Background(), reset.Request{Email: "alice@example.com", Connection: conn}); err != nil {
		t.Fatalf("the request must be accepted while the app is down: %v", err)
	}
	testenv.Eventually(t, "the job to be retried", func() (bool, error) {
		st, err := h.Admin.Stats(context.Background())
		return st.Jobs.Retrying == 1, err
	})
	h.App.Restart(t)
	h.Box.WaitMail(t, "alice@example.com", 0)
	h.drained(t)
	if n := h.Box.Count(); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}

func TestSMTPDownThenUp(t *testing.T) {
	addr := testenv.FreeAddr(t)
	h := newHarness(t, addr)
	if _, err := h.Flow.RequestReset(context.Background(), reset.Request{Email: "alice@example.com", Connection: conn}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the mail to be retried", func() (bool, error) {
		st, err := h.Admin.Stats(context.Background())
		return st.Mail.Retrying == 1, err
	})
	h.Box = testenv.StartMailboxAt(t, addr)
	h.Box.WaitMail(t, "alice@example.com", 0)
	h.drained(t)
	if n := h.Box.Count(); n != 1 {
		t.Errorf("%d mails, want exactly 1", n)
	}
}

func TestPasswordChangedNoticeAndEvent(t *testing.T) {
	var events []string
	var mu sync.Mutex
	h := newHarness(t, "", func(c *service.Config) {
		c.OnEvent = func(_ context.Context, name string, data map[string]any) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fmt.Sprintf("%s %v %v", name, data["user_id"], data["connection"]))
		}
	})
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	after := h.Box.LastID()
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword,
		Confirm: newPassword, IP: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	notice := h.Box.WaitMail(t, "alice@example.com", after)
	if notice.Subject != "Your password was changed" || !strings.Contains(notice.Text, "from the address 192.0.2.7") ||
		!strings.Contains(notice.Text, "https://app.example.com/lo/forgot?") || strings.Contains(notice.Text+notice.HTML, newPassword) {
		t.Errorf("notice: %q\n%s", notice.Subject, notice.Text)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0] != "password_reset.completed user-alice "+conn {
		t.Errorf("events %q", events)
	}
}

func TestNoticeCanBeDisabled(t *testing.T) {
	tpl, err := emailtemplates.Default("password_changed", nil)
	if err != nil {
		t.Fatal(err)
	}
	tpl.Enabled = false
	h := newHarness(t, "", func(c *service.Config) { c.Emails = map[string]emailtemplates.Template{"password_changed": tpl} })
	ticket := h.request(t, "bob@example.com", "bob@example.com")
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword}); err != nil {
		t.Fatal(err)
	}
	h.drained(t)
	if n := h.Box.Count(); n != 1 {
		t.Errorf("%d mails with the notice disabled, want only the reset email", n)
	}
}

var cancelLink = regexp.MustCompile(`https://app\.example\.com/lo/cancel\?id=([0-9a-f]{64})`)

// TestCancelLink is the email's "this wasn't me": it kills the ticket without
// revealing it, and checking it changes nothing.
func TestCancelLink(t *testing.T) {
	h := newHarness(t, "")
	after := h.Box.LastID()
	if _, err := h.Flow.RequestReset(context.Background(), reset.Request{Email: "alice@example.com", Connection: conn}); err != nil {
		t.Fatal(err)
	}
	msg := h.Box.WaitMail(t, "alice@example.com", after)
	ticket := testenv.Ticket(t, testenv.ResetLink(t, msg))
	m := cancelLink.FindStringSubmatch(msg.Text)
	if m == nil || strings.Contains(m[0], ticket) {
		t.Fatalf("no cancel link without the ticket in:\n%s", msg.Text)
	}
	if err := h.Flow.CheckCancel(context.Background(), m[1]); err != nil {
		t.Fatalf("CheckCancel: %v", err)
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); err != nil {
		t.Fatalf("checking the cancel link cancelled the ticket: %v", err)
	}
	if err := h.Flow.CancelTicket(context.Background(), m[1], "192.0.2.8"); err != nil {
		t.Fatalf("CancelTicket: %v", err)
	}
	if _, err := h.Flow.OpenTicket(context.Background(), ticket); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Fatalf("after cancel: %v, want the ticket dead", err)
	}
	if err := h.Flow.CancelTicket(context.Background(), m[1], ""); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Errorf("cancelling twice: %v", err)
	}
	for _, bad := range []string{"", "xyz", strings.Repeat("g", 64), strings.ToUpper(m[1])} {
		if err := h.Flow.CancelTicket(context.Background(), bad, ""); !errors.Is(err, reset.ErrTicketInvalid) {
			t.Errorf("CancelTicket(%q) = %v", bad, err)
		}
	}
}

// TestRequestRateLimits: Auth0's per IP and email limit, counted the same for an
// unknown address, and independent per IP.
func TestRequestRateLimits(t *testing.T) {
	h := newHarness(t, "", func(c *service.Config) { c.Limits = reset.DefaultLimits() })
	ask := func(email, ip string) (reset.RateInfo, error) {
		return h.Flow.RequestReset(context.Background(), reset.Request{Email: email, Connection: conn, IP: ip})
	}
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		for i := range 10 {
			d, err := ask(email, "192.0.2.1")
			if err != nil || d.Remaining != 9-i {
				t.Fatalf("%s request %d: %+v %v", email, i+1, d, err)
			}
		}
		_, err := ask(email, "192.0.2.1")
		rl, _ := fault.As(err)
		if info, ok := rlInfo(err); !ok || info.Name != "ip_email" || rl.RetryAfter <= 59*time.Second || rl.RetryAfter > time.Minute {
			t.Fatalf("%s 11th: %v", email, err)
		}
	}
	// Case and Unicode variants count as the same address.
	if _, err := ask("ALICE@EXAMPLE.COM", "192.0.2.1"); err == nil {
		t.Error("a case variant escaped the limit")
	}
	if _, err := ask("alice@example.com", "192.0.2.2"); err != nil {
		t.Errorf("another IP is limited separately: %v", err)
	}
	h.Clock.Advance(time.Minute)
	if _, err := ask("alice@example.com", "192.0.2.1"); err != nil {
		t.Errorf("a minute later: %v", err)
	}
}

func TestResetFormRateLimits(t *testing.T) {
	h := newHarness(t, "", func(c *service.Config) { c.Limits = reset.DefaultLimits() })
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	for i := range 10 {
		if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: "weak", Confirm: "weak", IP: "192.0.2.9"}); err == nil {
			t.Fatalf("attempt %d accepted a weak password", i)
		}
	}
	_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword, IP: "192.0.2.10"})
	if info, ok := rlInfo(err); !ok || info.Name != "reset_ticket" {
		t.Fatalf("11th submit of one ticket: %v", err)
	}
	if h.App.HookCalls("change_password") != 0 {
		t.Error("the hook was called")
	}
	h.Clock.Advance(time.Minute)
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword, IP: "192.0.2.10"}); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
}

// TestPasswordHistory: with a history of 2, the last two passwords set through
// the plugin are refused with Auth0's PasswordHistoryError; an older one is fine.
func TestPasswordHistory(t *testing.T) {
	h := newHarness(t, "", func(c *service.Config) {
		c.Site.Connections[conn].Policy = policy.Policy{Level: policy.LevelGood, History: 2}
	})
	set := func(pw string) error {
		ticket := h.request(t, "bob@example.com", "bob@example.com")
		_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: pw, Confirm: pw})
		return err
	}
	for _, pw := range []string{"First-Pass-111", "Second-Pass-222", "Third-Pass-333"} {
		if err := set(pw); err != nil {
			t.Fatalf("%s: %v", pw, err)
		}
	}
	var pe *policy.Error
	if err := set("Second-Pass-222"); !errors.As(err, &pe) || pe.Name != "PasswordHistoryError" {
		t.Fatalf("reusing the previous password: %v", err)
	}
	if err := set("Third-Pass-333"); !errors.As(err, &pe) || pe.Name != "PasswordHistoryError" {
		t.Fatalf("reusing the current password: %v", err)
	}
	if err := set("First-Pass-111"); err != nil {
		t.Fatalf("the password three changes ago is outside a history of 2: %v", err)
	}
}

// TestPersonalInfoRefused: the name and email the app returned may not be in the
// password.
func TestPersonalInfoRefused(t *testing.T) {
	h := newHarness(t, "", func(c *service.Config) {
		c.Site.Connections[conn].Policy = policy.Policy{Level: policy.LevelGood, NoPersonalInfo: true, Dictionary: true}
	})
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	var pe *policy.Error
	for pw, name := range map[string]string{"Liddell-2026!": "PasswordNoUserInfoError", "Alice-Wonder-9": "PasswordNoUserInfoError",
		"Password123": "PasswordDictionaryError"} {
		_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: pw, Confirm: pw})
		if !errors.As(err, &pe) || pe.Name != name {
			t.Errorf("%q: %v, want %s", pw, err, name)
		}
	}
	if _, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword}); err != nil {
		t.Fatalf("a good password after refusals: %v", err)
	}
}

// TestTicketDiesWithTheAccount (issue 8 item 7): a ticket whose user the app
// has since blocked, deleted or given another address is cancelled with the
// reason, not merely refused: unblocking the user or changing the address back
// does not revive the link.
func TestTicketDiesWithTheAccount(t *testing.T) {
	h := newHarness(t, "")
	blocked := h.request(t, "alice@example.com", "alice@example.com")
	moved := h.request(t, "bob@example.com", "bob@example.com")
	h.App.SetBlocked("alice@example.com", true)
	if err := h.App.ChangeEmail("bob@example.com", "robert@example.com"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		ticket string
		want   error
	}{{"blocked user", blocked, reset.ErrTicketAccountBlocked}, {"changed address", moved, reset.ErrTicketAddressChanged}}
	for _, c := range cases {
		_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: c.ticket, Password: newPassword, Confirm: newPassword})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The account is restored: the links stay dead, and say why.
	h.App.SetBlocked("alice@example.com", false)
	if err := h.App.ChangeEmail("robert@example.com", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if _, err := h.Flow.OpenTicket(context.Background(), c.ticket); !errors.Is(err, c.want) {
			t.Errorf("%s, account restored: open %v, want %v", c.name, err, c.want)
		}
		_, err := h.Flow.CompleteReset(context.Background(), reset.ResetForm{Ticket: c.ticket, Password: newPassword, Confirm: newPassword})
		if !errors.Is(err, c.want) {
			t.Errorf("%s, account restored: submit %v, want %v", c.name, err, c.want)
		}
	}
	if n := h.App.HookCalls("change_password"); n != 0 {
		t.Errorf("the app was asked to change %d passwords", n)
	}
	entries, _, err := h.Admin.AuditLog(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	cancelled := 0
	for _, e := range entries {
		if e.Type == audit.TicketCancelled {
			cancelled++
		}
	}
	if cancelled != 2 {
		t.Errorf("%d ticket_cancelled audit entries, want 2", cancelled)
	}
}

// rlInfo returns the rate limit that refused err.
func rlInfo(err error) (reset.RateInfo, bool) {
	f, ok := fault.As(err)
	if !ok || !errors.Is(err, reset.ErrRateLimited) {
		return reset.RateInfo{}, false
	}
	info, ok := f.Detail.(reset.RateInfo)
	return info, ok
}
