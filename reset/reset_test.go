package reset_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/mail"
	"github.com/caddy-password-reset/caddy-password-reset/policy"
	"github.com/caddy-password-reset/caddy-password-reset/reset"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

const conn = "Username-Password-Authentication"

// clock runs with real time, and tests can move it forward to expire tickets; the
// workers' backoffs keep working because it never stops.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// harness is the service with real parts: a Badger store on disk, the demo app
// over HTTP, and a real SMTP server.
type harness struct {
	svc   *reset.Service
	store storage.Store
	clock *clock
	app   *testenv.App
	box   *testenv.Mailbox
}

type option func(*reset.Config)

func newHarness(t *testing.T, smtpAddr string, opts ...option) *harness {
	t.Helper()
	h := &harness{clock: &clock{}, app: testenv.StartApp(t)}
	store, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h.store = store
	if smtpAddr == "" {
		h.box = testenv.StartMailbox(t)
		smtpAddr = h.box.Addr
	}
	sender, err := mail.NewSender(mail.Config{Addr: smtpAddr, Security: mail.SecurityPlain}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	public, _ := url.Parse("https://app.example.com")
	appURL, _ := url.Parse(h.app.URL)
	cfg := reset.Config{
		PublicURL: public,
		Connections: map[string]*reset.Connection{
			conn: {Name: conn, Kind: connection.Database, Policy: policy.Policy{Level: policy.LevelGood},
				Users: &connection.Upstream{Connection: conn, Secret: []byte(testenv.HookSecret),
					GetUserURL: appURL.JoinPath("/internal/users/lookup"), ChangePasswordURL: appURL.JoinPath("/internal/users/password")}},
			"google-oauth2": {Name: "google-oauth2", Kind: connection.Social},
		},
		Clients:       map[string]*reset.Client{"demo-app": {ID: "demo-app", Name: "Demo App", ResultURL: "https://app.example.com/login?from=reset"}},
		DefaultClient: "demo-app",
		DefaultFrom:   "Example <no-reply@example.com>",
		FriendlyName:  "Example",
		Store:         store, Transport: sender, Now: h.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.svc, err = reset.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.svc.Stop)
	return h
}

// request asks for a reset and returns the ticket from the email that arrives.
func (h *harness) request(t *testing.T, email, to string) string {
	t.Helper()
	after := h.box.LastID()
	if err := h.svc.RequestReset(context.Background(), reset.Request{ClientID: "demo-app", Email: email, Connection: conn}); err != nil {
		t.Fatalf("RequestReset: %v", err)
	}
	msg := h.box.WaitMail(t, to, after)
	return testenv.Ticket(t, testenv.ResetLink(t, msg))
}

// drained waits until no job or mail is pending.
func (h *harness) drained(t *testing.T) {
	testenv.Eventually(t, "queues to drain", func() (bool, error) {
		st, err := h.svc.Stats(context.Background())
		return st.Jobs.Pending == 0 && st.Mail.Pending == 0, err
	})
}

const newPassword = "Correct-Horse-9-battery"

func TestResetFlow(t *testing.T) {
	h := newHarness(t, "")
	after := h.box.LastID()
	if err := h.svc.RequestReset(context.Background(), reset.Request{ClientID: "demo-app", Email: "alice@example.com", Connection: conn}); err != nil {
		t.Fatal(err)
	}
	msg := h.box.WaitMail(t, "alice@example.com", after)
	link := testenv.ResetLink(t, msg)
	if !strings.HasPrefix(link, "https://app.example.com/lo/reset?ticket=") {
		t.Errorf("link %q is not built on the public URL", link)
	}
	if msg.Subject != "Reset your password" || !strings.Contains(msg.Text, "expires in 5 days") {
		t.Errorf("unexpected mail: subject %q, text %q", msg.Subject, msg.Text)
	}
	ticket := testenv.Ticket(t, link)
	info, err := h.svc.OpenTicket(context.Background(), ticket)
	if err != nil || info.Email != "alice@example.com" || info.AppName != "Demo App" {
		t.Fatalf("OpenTicket = %+v, %v", info, err)
	}
	if _, err := h.svc.OpenTicket(context.Background(), ticket); err != nil {
		t.Fatalf("opening the link twice used it up: %v", err)
	}
	done, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword)
	if err != nil {
		t.Fatalf("CompleteReset: %v", err)
	}
	u, _ := url.Parse(done.RedirectURL)
	q := u.Query()
	if u.Host != "app.example.com" || q.Get("from") != "reset" || q.Get("success") != "true" ||
		q.Get("message") != reset.SuccessMessage || q.Get("email") != "alice@example.com" {
		t.Errorf("redirect %s lacks Auth0's parameters", done.RedirectURL)
	}
	if !h.app.CheckPassword("alice@example.com", newPassword) {
		t.Error("the app's password did not change")
	}
	if _, err := h.svc.CompleteReset(context.Background(), ticket, "Another-Pass-77", "Another-Pass-77"); !errors.Is(err, reset.ErrTicketUsed) {
		t.Errorf("second use: got %v, want ErrTicketUsed", err)
	}
}

func TestMailGoesToTheAddressTheAppReturned(t *testing.T) {
	h := newHarness(t, "")
	// The demo app matches case-insensitively; the mail must go to its stored
	// address, never to the string that was typed (Django CVE-2019-19844).
	h.request(t, "  ALICE@Example.COM ", "alice@example.com")
	for _, m := range h.box.Messages() {
		if len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != "alice@example.com" || m.To != "<alice@example.com>" {
			t.Errorf("mail went to %v (To: %s)", m.EnvelopeTo, m.To)
		}
	}
}

func TestUnknownAndBlockedUsersGetNoMail(t *testing.T) {
	h := newHarness(t, "")
	for _, email := range []string{"nobody@example.com", "carol@example.com"} {
		if err := h.svc.RequestReset(context.Background(), reset.Request{Email: email, Connection: conn}); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
	}
	testenv.Eventually(t, "both lookups", func() (bool, error) { return h.app.HookCalls("get_user") == 2, nil })
	h.drained(t)
	if n := h.box.Count(); n != 0 {
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
			err := h.svc.RequestReset(context.Background(), c.req)
			var re *reset.RequestError
			if !errors.As(err, &re) || re.Code != c.code || re.Status != 400 {
				t.Fatalf("got %v, want a 400 %s", err, c.code)
			}
		})
	}
	st, err := h.svc.Stats(context.Background())
	if err != nil || st.Jobs.Pending != 0 {
		t.Errorf("refused requests left jobs: %+v, %v", st, err)
	}
}

func TestTicketExpiry(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	h.clock.Advance(reset.DefaultURLLifetime - time.Second)
	if _, err := h.svc.OpenTicket(context.Background(), ticket); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	h.clock.Advance(time.Second)
	if _, err := h.svc.OpenTicket(context.Background(), ticket); !errors.Is(err, reset.ErrTicketExpired) {
		t.Fatalf("at expiry OpenTicket: got %v, want ErrTicketExpired", err)
	}
	// The POST checks expiry too (Flarum CVE-2026-39923).
	if _, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword); !errors.Is(err, reset.ErrTicketExpired) {
		t.Fatalf("at expiry CompleteReset: got %v, want ErrTicketExpired", err)
	}
	if h.app.PasswordChanges() != 0 {
		t.Error("an expired ticket changed the password")
	}
}

func TestNewerTicketCancelsOlder(t *testing.T) {
	h := newHarness(t, "")
	first := h.request(t, "alice@example.com", "alice@example.com")
	second := h.request(t, "alice@example.com", "alice@example.com")
	if _, err := h.svc.OpenTicket(context.Background(), first); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Fatalf("older ticket: got %v, want ErrTicketSuperseded", err)
	}
	if _, err := h.svc.CompleteReset(context.Background(), second, newPassword, newPassword); err != nil {
		t.Fatalf("newest ticket: %v", err)
	}
}

func TestUsingOneTicketCancelsTheUsersOthers(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "bob@example.com", "bob@example.com")
	other := h.request(t, "alice@example.com", "alice@example.com")
	if _, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.OpenTicket(context.Background(), other); err != nil {
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
		if _, err := h.svc.OpenTicket(context.Background(), tok); !errors.Is(err, reset.ErrTicketInvalid) {
			t.Errorf("%s: got %v, want ErrTicketInvalid", name, err)
		}
	}
	if _, err := h.svc.OpenTicket(context.Background(), ticket); err != nil {
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
			_, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, reset.ErrTicketUsed):
				used.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	start.Done()
	wg.Wait()
	if wins.Load() != 1 || used.Load() != n-1 {
		t.Errorf("%d submits won and %d were told the link was used; want 1 and %d", wins.Load(), used.Load(), n-1)
	}
	if c := h.app.PasswordChanges(); c != 1 {
		t.Errorf("the app saw %d password changes, want 1", c)
	}
}

func TestWeakPasswordKeepsTicket(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	_, err := h.svc.CompleteReset(context.Background(), ticket, "weak", "weak")
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Name != "PasswordStrengthError" {
		t.Fatalf("got %v, want a PasswordStrengthError", err)
	}
	var fe *reset.FormError
	if _, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword+"x"); !errors.As(err, &fe) {
		t.Fatalf("mismatch: got %v, want a FormError", err)
	}
	if _, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword); err != nil {
		t.Fatalf("the ticket was spent by refused attempts: %v", err)
	}
}

func TestHookFailureLeavesTicketUsable(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	h.app.Stop()
	_, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword)
	var ta *reset.TryAgainError
	if !errors.As(err, &ta) || !strings.Contains(ta.Message, "try again") {
		t.Fatalf("app down: got %v, want a TryAgainError", err)
	}
	h.app.Restart(t)
	if _, err := h.svc.CompleteReset(context.Background(), ticket, newPassword, newPassword); err != nil {
		t.Fatalf("after the app came back: %v", err)
	}
	if !h.app.CheckPassword("alice@example.com", newPassword) {
		t.Error("password not changed")
	}
}

func TestAppRefusalIsShownAndTicketKept(t *testing.T) {
	h := newHarness(t, "")
	ticket := h.request(t, "alice@example.com", "alice@example.com")
	// The demo app refuses the current password as the new one.
	_, err := h.svc.CompleteReset(context.Background(), ticket, "alice-old-password-1", "alice-old-password-1")
	var ta *reset.TryAgainError
	if !errors.As(err, &ta) || !strings.Contains(ta.Message, "differ") {
		t.Fatalf("got %v, want the app's refusal", err)
	}
	if _, err := h.svc.OpenTicket(context.Background(), ticket); err != nil {
		t.Fatalf("refusal spent the ticket: %v", err)
	}
}

func TestAppDownWhenRequestedJobWaits(t *testing.T) {
	h := newHarness(t, "")
	h.app.Stop()
	if err := h.svc.RequestReset(context.Background(), reset.Request{Email: "alice@example.com", Connection: conn}); err != nil {
		t.Fatalf("the request must be accepted while the app is down: %v", err)
	}
	testenv.Eventually(t, "the job to be retried", func() (bool, error) {
		st, err := h.svc.Stats(context.Background())
		return st.Jobs.Retrying == 1, err
	})
	h.app.Restart(t)
	h.box.WaitMail(t, "alice@example.com", 0)
	h.drained(t)
	if n := h.box.Count(); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}

func TestSMTPDownThenUp(t *testing.T) {
	addr := testenv.FreeAddr(t)
	h := newHarness(t, addr)
	if err := h.svc.RequestReset(context.Background(), reset.Request{Email: "alice@example.com", Connection: conn}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the mail to be retried", func() (bool, error) {
		st, err := h.svc.Stats(context.Background())
		return st.Mail.Retrying == 1, err
	})
	h.box = testenv.StartMailboxAt(t, addr)
	h.box.WaitMail(t, "alice@example.com", 0)
	h.drained(t)
	if n := h.box.Count(); n != 1 {
		t.Errorf("%d mails, want exactly 1", n)
	}
}
